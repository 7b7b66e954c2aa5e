-- The history of OpenDental insplan, which OpenDental overwrites in place or deletes: see _snapshots.yml.
{% snapshot snap_opendental__insplan %}
{{ config(unique_key='plan_num') }}
select * from {{ ref('stg_opendental__insplan') }}
where sec_date_t_edit is not null
{% endsnapshot %}
