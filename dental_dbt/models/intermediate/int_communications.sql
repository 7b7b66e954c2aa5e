-- One row per OpenDental communication log entry (commlog.CommlogNum), System F (communications):
-- who was contacted (patient), when (CommDateTime), how (mode, commlog.Mode_, OpenDental's
-- CommItemMode), which way (direction, commlog.SentOrReceived, CommSentOrReceived), why (purpose:
-- commlog.CommType, a definition key of category CommLogTypes: its ItemName and ItemValue) and by whom
-- (commlog.UserNum; NULL when entered by no user, UserNum 0; user_provider_id is the provider that user
-- is, userod.ProvNum) and whether it was automated (is_automated, below).
-- duration_minutes = DateTimeEnd - CommDateTime in whole minutes when both are recorded and in order,
-- else NULL.
-- Orphans: a commlog whose PatNum points at no patient (a deleted or corrupted patient row) is kept,
-- with patient_id NULL and is_orphan true: it counts as a communication, reaches no patient, and is
-- listed in marts.mart_data_exceptions (orphan_row).
-- Codes OpenDental 24.3 does not define (staging's mode_ / sent_or_received NULL) decode to 'unknown';
-- a CommType that is 0 is purpose 'none', one that is no CommLogTypes definition 'unknown'.
-- is_automated: OpenDental's Commlogs.IsAutomated(commType, commItemSource)
-- (OpenDentBusiness/Data Interface/Commlogs.cs, 24_3), whose callers pass the ItemValue of the commlog's
-- CommLogTypes definition, "" when CommType is 0 or no such definition (ChartModules.GetProgNotes,
-- AccountModules.GetCommLog, FormApptEdit.FillComm):
--     commItemTypeAuto=(CommItemTypeAuto)Enum.Parse(typeof(CommItemTypeAuto),commType,ignoreCase:true);
--     (catch{ return false; })
--     isAutomated=commItemSource!=CommItemSource.User || commItemTypeAuto==CommItemTypeAuto.FHIR;
-- so a commlog is automated only when its type's ItemValue parses as a CommItemTypeAuto, and then when
-- CommSource is not User (0) or the value is FHIR. .NET Framework 4.8's Enum.Parse (OpenDental's target)
-- trims white space; a value starting with a digit or a sign is an integer (Int32: any value in range
-- parses, defined or not, "7" is FHIR; out of range or not an integer fails); otherwise a comma-separated
-- list of member names, each trimmed, compared ignoring case, OR-ed together ("fin, react" = 1 | 6 = 7 =
-- FHIR); an empty value or an unknown name fails. CommItemTypeAuto: APPT 0, FIN 1, RECALL 2, MISC 3,
-- TEXT 4, ODHQ 5, REACT 6, FHIR 7.

{#- the characters .NET's String.Trim() removes (Char.IsWhiteSpace) #}
{%- set ws = "E'\\x09\\x0a\\x0b\\x0c\\x0d\\x20\\u0085\\u00a0\\u1680\\u2000\\u2001\\u2002\\u2003\\u2004\\u2005"
    ~ "\\u2006\\u2007\\u2008\\u2009\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000'" %}

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

purpose_values as (

    -- ItemValue as an integer, when Enum.Parse reads it as one (trimmed, an Int32)
    select
        def_num,
        case
            when btrim(item_value, {{ ws }}) ~ '^[+-]?[0-9]+$'
                and cast(btrim(item_value, {{ ws }}) as numeric) between -2147483648 and 2147483647
            then cast(btrim(item_value, {{ ws }}) as numeric)
        end                                                         as integer_value
    from purposes

),

purpose_names as (

    -- ItemValue as a comma-separated list of CommItemTypeAuto names: parsed when every item is one
    select
        purposes.def_num,
        bool_and(members.member_value is not null)                  as is_name_list,
        bit_or(members.member_value)                                as name_list_value
    from purposes
    cross join lateral regexp_split_to_table(purposes.item_value, ',') as items (item)
    left join (
        values ('APPT', 0), ('FIN', 1), ('RECALL', 2), ('MISC', 3), ('TEXT', 4), ('ODHQ', 5), ('REACT', 6),
            ('FHIR', 7)
    ) as members (member_name, member_value)
        on upper(btrim(items.item, {{ ws }})) = members.member_name
    group by purposes.def_num

),

purpose_types as (

    -- the CommItemTypeAuto a CommLogTypes definition's ItemValue parses to; none when it does not parse
    select
        purpose_values.def_num,
        case
            when purpose_values.integer_value is not null then purpose_values.integer_value
            -- (a value starting with a digit or a sign that is no Int32 falls to the names and fails there)
            when purpose_names.is_name_list then purpose_names.name_list_value
        end                                                         as type_auto
    from purpose_values
    left join purpose_names
        on purpose_values.def_num = purpose_names.def_num

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
        coalesce(purpose_types.type_auto is not null
            and (coalesce(commlogs.comm_source_code, 0) <> 0 or purpose_types.type_auto = 7), false)
                                                                    as is_automated,
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
    left join purpose_types
        on commlogs.comm_type = purpose_types.def_num
    left join users
        on commlogs.user_num = users.user_num

)

select * from final
