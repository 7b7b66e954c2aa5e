-- The history of OpenDental patplan, which OpenDental overwrites in place or deletes: see _snapshots.yml.
{% snapshot snap_opendental__patplan %}
{{ config(unique_key='pat_plan_num') }}
select * from {{ ref('stg_opendental__patplan') }}
where sec_date_t_edit is not null
{% endsnapshot %}
