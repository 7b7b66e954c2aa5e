-- One row per OpenDental communication log entry (commlog.CommlogNum), System F (communications):
-- who was contacted (patient), when (CommDateTime), how (mode, commlog.Mode_, OpenDental's
-- CommItemMode), which way (direction, commlog.SentOrReceived, CommSentOrReceived), why (purpose:
-- commlog.CommType, a definition key of category CommLogTypes: its ItemName and ItemValue) and by whom
-- (commlog.UserNum; NULL when entered by no user, UserNum 0; whether it was automated is source_code,
-- commlog.CommSource, not User (0); user_provider_id is the
-- provider that user is, userod.ProvNum).
-- duration_minutes = DateTimeEnd - CommDateTime in whole minutes when both are recorded and in order,
-- else NULL.
-- Orphans: a commlog whose PatNum points at no patient (a deleted or corrupted patient row) is kept,
-- with patient_id NULL and is_orphan true: it counts as a communication, reaches no patient, and is
-- listed in marts.mart_data_exceptions (orphan_row).
-- Codes OpenDental 24.3 does not define (staging's mode_ / sent_or_received NULL) decode to 'unknown';
-- a CommType that is 0 is purpose 'none', one that is no CommLogTypes definition 'unknown'.

with commlogs as (

    select * from {{ ref('stg_opendental__commlog') }}

),

patients as (

    select patient_id from {{ ref('int_patients') }}

),

users as (

    select
        user_num,
        prov_num
    from {{ ref('stg_opendental__userod') }}

),

purposes as (

    select
        def_num,
        item_name,
        item_value
    from {{ ref('stg_opendental__definition') }}
    where category = 27  -- DefCat.CommLogTypes

),

final as (

    select
        commlogs.commlog_num                                        as communication_id,
        patients.patient_id                                         as patient_id,
        commlogs.pat_num is not null and patients.patient_id is null as is_orphan,
        commlogs.comm_date_time                                     as communicated_at,
        cast(commlogs.comm_date_time as date)                       as communication_date,
        commlogs.mode__code                                         as mode_code,
        case commlogs.mode_
            when 0 then 'none'
            when 1 then 'email'
            when 2 then 'mail'
            when 3 then 'phone'
            when 4 then 'in_person'
            when 5 then 'text'
            when 6 then 'email_and_text'
            when 7 then 'phone_and_text'
            when 8 then 'fax'
            else 'unknown'
        end                                                         as mode,
        commlogs.sent_or_received_code                              as direction_code,
        case commlogs.sent_or_received
            when 0 then 'neither'
            when 1 then 'sent'
            when 2 then 'received'
            else 'unknown'
        end                                                         as direction,
        commlogs.comm_type                                          as purpose_id,
        case
            when commlogs.comm_type is null then 'none'
            else coalesce(purposes.item_name, 'unknown')
        end                                                         as purpose,
        purposes.item_value                                         as purpose_value,
        commlogs.user_num                                           as user_id,
        users.prov_num                                              as user_provider_id,
        commlogs.comm_source_code                                   as source_code,
        case
            when commlogs.date_time_end > commlogs.comm_date_time
            then cast(floor(extract(epoch from commlogs.date_time_end
                                    - commlogs.comm_date_time) / 60) as integer)
        end                                                         as duration_minutes
    from commlogs
    left join patients
        on commlogs.pat_num = patients.patient_id
    left join purposes
        on commlogs.comm_type = purposes.def_num
    left join users
        on commlogs.user_num = users.user_num

)

select * from final
