-- The history of OpenDental benefit, which OpenDental overwrites in place or deletes: see _snapshots.yml.
{% snapshot snap_opendental__benefit %}
{{ config(unique_key='benefit_num') }}
select * from {{ ref('stg_opendental__benefit') }}
where sec_date_t_edit is not null
{% endsnapshot %}
