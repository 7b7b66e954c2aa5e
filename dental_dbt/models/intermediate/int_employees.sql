-- One row per OpenDental employee (employee.EmployeeNum), no names: whether the employee is clinical
-- staff. An employee is clinical when a user linked to it (userod.EmployeeNum) is a provider
-- (userod.ProvNum: a dentist or hygienist who also clocks in) or belongs to a clinical user group: a
-- usergroup whose Description is in the var clinical_user_groups (default ['Clinical Staff'], the
-- assistants' group) through usergroupattach. userod.UserGroupNum is not read: OpenDental 24.3 marks it
-- "Deprecated. Use UserGroupAttaches to link Userods to UserGroups." (TableTypes/Userod.cs) and decides
-- membership from usergroupattach alone (Userods.IsInUserGroup, UserGroups.GetForUser).

{%- set clinical_groups = var('clinical_user_groups', ['Clinical Staff']) %}

with employees as (

    select * from {{ ref('stg_opendental__employee') }}

),

users as (

    select * from {{ ref('stg_opendental__userod') }}
    where employee_num is not null

),

groups as (

    select * from {{ ref('stg_opendental__usergroup') }}

),

memberships as (

    select user_num, user_group_num from {{ ref('stg_opendental__usergroupattach') }}

),

clinical_users as (

    select distinct memberships.user_num
    from memberships
    inner join groups
        on memberships.user_group_num = groups.user_group_num
    where groups.description in ({% for g in clinical_groups %}'{{ g }}'{% if not loop.last %}, {% endif %}{% endfor %})

),

employee_users as (

    select
        users.employee_num,
        min(users.user_num)                                         as user_id,
        min(users.prov_num)                                         as provider_id,
        bool_or(users.prov_num is not null)                         as is_provider,
        bool_or(clinical_users.user_num is not null)                as in_clinical_group
    from users
    left join clinical_users
        on users.user_num = clinical_users.user_num
    group by users.employee_num

),

final as (

    select
        employees.employee_num                                      as employee_id,
        coalesce(employees.is_hidden, false)                        as is_hidden,
        employee_users.user_id,
        employee_users.provider_id,
        coalesce(employee_users.is_provider, false)                 as is_provider,
        coalesce(employee_users.is_provider or employee_users.in_clinical_group, false) as is_clinical
    from employees
    left join employee_users
        on employees.employee_num = employee_users.employee_num

)

select * from final
