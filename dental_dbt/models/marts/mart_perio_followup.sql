-- Perio follow-up list (grain: patient_id): every patient with a perio chart dated on or before the
-- run's as-of date (run setting as_of_date, default today), their latest chart and whether its pockets
-- are being treated.
--   latest exam            the chart with the latest exam_date on or before the as-of date (the higher
--                          perio_exam_id on a tie); earlier charts are replaced by it; a chart without
--                          a date (OpenDental's 0001-01-01) or without a patient is left out;
--   sites_5mm_plus         its probed sites 5 mm deep or more (int_perio_exams; -1, not probed, ignored);
--   srp_planned            the patient has scaling and root planing (CDT D4341 or D4342) treatment-planned:
--                          ProcStatus TP (1), planned (DateTP, else ProcDate) on or before the as-of date;
--   srp_done_since_exam    SRP completed (ProcStatus C, 2) dated on or after the latest exam's date and on or
--                          before the as-of date; SRP done before the exam does not count;
--   needs_srp_followup     sites_5mm_plus > 0 and neither of the two: pockets nobody is treating.
-- OpenDental's ProcStat: OpenDentBusiness/TableTypes/Procedure.cs; perio depths: PerioMeasure.cs.

with run_date as (

    select {{ as_of_date() }} as as_of_date

),

exams as (

    select
        exams.*,
        row_number() over (
            partition by exams.patient_id
            order by exams.exam_date desc, exams.perio_exam_id desc
        )                                                           as recency_rank,
        count(*) over (partition by exams.patient_id)               as exam_count
    from {{ ref('int_perio_exams') }} as exams
    cross join run_date
    where exams.patient_id is not null
        and exams.exam_date <= run_date.as_of_date

),

latest as (

    select * from exams where recency_rank = 1

),

srp as (

    select
        procedures.patient_id,
        procedures.proc_status,
        procedures.procedure_date,
        coalesce(procedures.date_tp, procedures.procedure_date)    as planned_date
    from {{ ref('int_procedures') }} as procedures
    where procedures.procedure_code in ('D4341', 'D4342')
        and procedures.proc_status in (1, 2)  -- ProcStat.TP, ProcStat.C

),

srp_status as (

    select
        latest.patient_id,
        bool_or(srp.proc_status = 1 and srp.planned_date <= run_date.as_of_date)
                                                                    as srp_planned,
        bool_or(srp.proc_status = 2
            and srp.procedure_date >= latest.exam_date
            and srp.procedure_date <= run_date.as_of_date)          as srp_done_since_exam,
        max(srp.procedure_date) filter (
            where srp.proc_status = 2 and srp.procedure_date <= run_date.as_of_date
        )                                                           as last_srp_done_date
    from latest
    cross join run_date
    inner join srp
        on latest.patient_id = srp.patient_id
    group by 1

),

final as (

    select
        latest.patient_id,
        run_date.as_of_date,
        latest.perio_exam_id                                        as latest_exam_id,
        latest.exam_date                                            as latest_exam_date,
        latest.provider_id                                          as latest_exam_provider_id,
        latest.exam_count,
        latest.probed_sites,
        latest.sites_5mm_plus,
        latest.teeth_5mm_plus,
        latest.max_depth_mm,
        coalesce(srp_status.srp_planned, false)                     as srp_planned,
        coalesce(srp_status.srp_done_since_exam, false)             as srp_done_since_exam,
        srp_status.last_srp_done_date,
        latest.sites_5mm_plus > 0
            and not coalesce(srp_status.srp_planned, false)
            and not coalesce(srp_status.srp_done_since_exam, false)
                                                                    as needs_srp_followup,
        run_date.as_of_date - latest.exam_date                      as days_since_exam
    from latest
    cross join run_date
    left join srp_status
        on latest.patient_id = srp_status.patient_id

)

select * from final
