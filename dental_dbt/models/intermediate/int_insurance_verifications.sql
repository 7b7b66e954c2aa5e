-- One row per insurance verification event (insverifyhist.InsVerifyHistNum), OpenDental's Insurance
-- Verification List (OpenDentBusiness/Data Interface/InsVerifies.cs): each time a user marks a patient's
-- enrollment or a plan's benefits verified, OpenDental copies the insverify row into insverifyhist
-- (InsVerifyHists.InsertFromInsVerify) with the day verified (DateLastVerified) and the user (VerifyUserNum).
--   verify_type       insverifyhist.VerifyType (VerifyTypes): 1 insurance_benefit (FKey = insplan.PlanNum),
--                     2 patient_enrollment (FKey = patplan.PatPlanNum), 0 none; another code 'unknown';
--   patient_plan_id   FKey of a patient_enrollment verification, else NULL;
--   insurance_plan_id FKey of an insurance_benefit verification, else NULL.
-- An event without a day (sentinel DateLastVerified) verified nothing and is left out.

with history as (

    select * from {{ ref('stg_opendental__insverifyhist') }}
    where date_last_verified is not null

),

final as (

    select
        ins_verify_hist_num                                         as verification_id,
        ins_verify_num                                              as insurance_verification_id,
        verify_type_code,
        case verify_type
            when 0 then 'none'
            when 1 then 'insurance_benefit'
            when 2 then 'patient_enrollment'
            else 'unknown'
        end                                                         as verify_type,
        case when verify_type = 2 then f_key end                    as patient_plan_id,
        case when verify_type = 1 then f_key end                    as insurance_plan_id,
        date_last_verified                                          as verified_date,
        sec_date_t_edit                                             as verified_at,
        verify_user_num                                             as user_id,
        nullif(def_num, 0)                                          as status_id
    from history

)

select * from final
