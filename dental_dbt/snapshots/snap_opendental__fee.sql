-- The history of OpenDental fee, which OpenDental overwrites in place or deletes: see _snapshots.yml.
{% snapshot snap_opendental__fee %}
{{ config(unique_key='fee_num') }}
select * from {{ ref('stg_opendental__fee') }}
where sec_date_t_edit is not null
{% endsnapshot %}
