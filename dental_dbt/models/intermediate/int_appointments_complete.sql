-- One row per completed appointment (appointment.AptStatus = 2, OpenDental's ApptStatus.Complete): a
-- visit. appointment_date is the date part of appointment.AptDateTime.

with appointments as (

    select * from {{ ref('stg_opendental__appointment') }}

),

completed as (

    select
        apt_num                                                     as appointment_id,
        pat_num                                                     as patient_id,
        clinic_num                                                  as clinic_id,
        prov_num                                                    as provider_id,
        apt_date_time                                               as appointment_datetime,
        cast(apt_date_time as date)                                 as appointment_date
    from appointments
    where apt_status = 2

)

select * from completed
