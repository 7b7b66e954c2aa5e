-- One row per appointment (appointment.AptNum), every status, with chair minutes and no-show flag.

select * from {{ ref('int_appointments') }}
