-- The history of OpenDental inssub, which OpenDental overwrites in place or deletes: see _snapshots.yml.
{% snapshot snap_opendental__inssub %}
{{ config(unique_key='ins_sub_num') }}
select * from {{ ref('stg_opendental__inssub') }}
where sec_date_t_edit is not null
{% endsnapshot %}
