-- Production per day, clinic and provider, in dollars, as OpenDental 24.3's Production and Income report
-- (RpProdInc, daily) counts it under the practice's write-off date setting (int_practice_settings;
-- docs/opendental_aging.md section 8):
--   gross_production:      completed procedures' charges (ProcFee x (UnitQty + BaseUnits)) by ProcDate;
--   capitation_writeoffs:  claimproc.WriteOff of capitation claimprocs (Status 7 CapComplete) of those
--                          procedures, by the procedure's date, clinic and provider (the report's
--                          Production column is gross_production - capitation_writeoffs);
--   adjustments:           adjustment.AdjAmt by AdjDate (signed; negative = discount / write-down);
--   writeoffs:             insurance (PPO) write-offs, positive, per ReportsPPOwriteoffDefaultToProcDate:
--                          0 claimprocs Received/Supplemental (Status 1, 4) by DateCP; 1 Status 0, 1, 4 by
--                          the claimproc's ProcDate; 2 the claimsnapshot's write-off estimate by its
--                          DateTEntry (Status 0, 1, 4) plus, by DateCP, the final write-off minus that
--                          estimate (Status 1, 4); clinic and provider of the claimproc (2: the estimate
--                          side takes the procedure's clinic);
--   net_production:        OpenDental's total production: gross_production - capitation_writeoffs
--                          + adjustments - writeoffs.
-- clinic_id / provider_id 0 = none. Rows without a date (OpenDental sentinel dates) belong to no day
-- and are left out.
-- Orphans, as the daily report joins (RpProdInc.GetDailyProdIncDataSet):
--   * a procedure or adjustment whose PatNum is 0 or names no patient row is no production: the report
--     reads procedures "FROM patient INNER JOIN procedurelog ON patient.PatNum=procedurelog.PatNum" and
--     adjustments "INNER JOIN patient ON adjustment.PatNum=patient.PatNum"; a procedure's capitation
--     write-off goes with it (same query); under write-off setting 2 the snapshot estimate of a claimproc
--     whose procedure has no patient row is out ("INNER JOIN patient ON patient.PatNum=procedurelog.PatNum");
--     write-offs otherwise "LEFT JOIN patient" and count whatever the patient;
--   * a ProvNum that names no provider row is no provider, like ProvNum 0: its row is provider_id 0, never
--     a provider that does not exist. The report drops procedures and adjustments of either (INNER JOIN
--     provider); this mart keeps them under provider 0 (docs/dbt.md, "The other marts against
--     OpenDental's own reports", says how to get the report's figure).

with settings as (

    select * from {{ ref('int_practice_settings') }}

),

completed_procedures as (

    select * from {{ ref('int_procedures_complete') }}

),

adjustments as (

    select * from {{ ref('int_adjustments') }}

),

claimprocs as (

    select * from {{ ref('stg_opendental__claimproc') }}

),

snapshots as (

    -- one snapshot per claimproc (the first taken) in the rare case of more
    select distinct on (claim_proc_num)
        claim_proc_num,
        cast(date_t_entry as date)                                  as snapshot_date,
        case when writeoff = -1 then 0 else cast(writeoff as numeric(14, 2)) end as writeoff_estimate
    from {{ ref('stg_opendental__claimsnapshot') }}
    where claim_proc_num is not null
    order by claim_proc_num, date_t_entry, claim_snapshot_num

),

procedures_all as (

    select proc_num, pat_num, clinic_num from {{ ref('stg_opendental__procedurelog') }}

),

patients as (

    select pat_num from {{ ref('stg_opendental__patient') }}

),

providers as (

    select prov_num from {{ ref('stg_opendental__provider') }}

),

-- the completed procedures of a patient that exists (the report's INNER JOIN patient), with a provider
-- that exists or none
production_procedures as (

    select
        completed_procedures.procedure_id,
        completed_procedures.procedure_date,
        completed_procedures.clinic_id,
        providers.prov_num                                          as provider_id,
        completed_procedures.procedure_charge
    from completed_procedures
    inner join patients
        on completed_procedures.patient_id = patients.pat_num
    left join providers
        on completed_procedures.provider_id = providers.prov_num

),

-- the adjustments of a patient that exists, likewise
production_adjustments as (

    select
        adjustments.adjustment_date,
        adjustments.clinic_id,
        providers.prov_num                                          as provider_id,
        adjustments.adjustment_amount
    from adjustments
    inner join patients
        on adjustments.patient_id = patients.pat_num
    left join providers
        on adjustments.provider_id = providers.prov_num

),

-- write-offs take the claimproc's provider when it exists, else none
writeoff_claimprocs as (

    select
        claimprocs.claim_proc_num,
        claimprocs.proc_num,
        claimprocs.status_code,
        claimprocs.date_cp,
        claimprocs.proc_date,
        claimprocs.clinic_num,
        providers.prov_num,
        claimprocs.write_off
    from claimprocs
    left join providers
        on claimprocs.prov_num = providers.prov_num

),

parts as (

    select
        procedure_date                                              as production_date,
        clinic_id,
        provider_id,
        1                                                           as completed_procedure_count,
        procedure_charge                                            as gross_production,
        cast(0 as numeric(14, 2))                                   as capitation_writeoffs,
        0                                                           as adjustment_count,
        cast(0 as numeric(14, 2))                                   as adjustments,
        cast(0 as numeric(14, 2))                                   as writeoffs
    from production_procedures

    union all

    select
        production_procedures.procedure_date,
        production_procedures.clinic_id,
        production_procedures.provider_id,
        0, 0,
        cast(claimprocs.write_off as numeric(14, 2)),
        0, 0, 0
    from claimprocs
    inner join production_procedures
        on claimprocs.proc_num = production_procedures.procedure_id
    where claimprocs.status_code = 7

    union all

    select adjustment_date, clinic_id, provider_id, 0, 0, 0, 1, adjustment_amount, 0
    from production_adjustments

    union all

    -- write-offs by insurance payment date (0) or procedure date (1)
    select
        case when settings.writeoff_date_mode = 1 then claimprocs.proc_date else claimprocs.date_cp end,
        claimprocs.clinic_num,
        claimprocs.prov_num,
        0, 0, 0, 0, 0,
        cast(claimprocs.write_off as numeric(14, 2))
    from writeoff_claimprocs as claimprocs
    cross join settings
    where settings.writeoff_date_mode in (0, 1)
      and (claimprocs.status_code in (1, 4) or (settings.writeoff_date_mode = 1 and claimprocs.status_code = 0))
      and abs(claimprocs.write_off) > 0.0001

    union all

    -- claim date (2): the snapshot's write-off estimate when the claim was made, for a procedure of a
    -- patient that exists
    select
        snapshots.snapshot_date,
        procedures_all.clinic_num,
        claimprocs.prov_num,
        0, 0, 0, 0, 0,
        snapshots.writeoff_estimate
    from writeoff_claimprocs as claimprocs
    cross join settings
    inner join snapshots
        on claimprocs.claim_proc_num = snapshots.claim_proc_num
    inner join procedures_all
        on claimprocs.proc_num = procedures_all.proc_num
    inner join patients
        on procedures_all.pat_num = patients.pat_num
    where settings.writeoff_date_mode = 2
      and claimprocs.status_code in (0, 1, 4)

    union all

    -- claim date (2): the final write-off's difference from the estimate, when insurance paid
    select
        claimprocs.date_cp,
        claimprocs.clinic_num,
        claimprocs.prov_num,
        0, 0, 0, 0, 0,
        cast(claimprocs.write_off as numeric(14, 2)) - coalesce(snapshots.writeoff_estimate, 0)
    from writeoff_claimprocs as claimprocs
    cross join settings
    left join snapshots
        on claimprocs.claim_proc_num = snapshots.claim_proc_num
    where settings.writeoff_date_mode = 2
      and claimprocs.status_code in (1, 4)

),

final as (

    select
        production_date,
        coalesce(clinic_id, 0)                                      as clinic_id,
        coalesce(provider_id, 0)                                    as provider_id,
        cast(sum(completed_procedure_count) as bigint)              as completed_procedure_count,
        cast(sum(gross_production) as numeric(14, 2))               as gross_production,
        cast(sum(capitation_writeoffs) as numeric(14, 2))           as capitation_writeoffs,
        cast(sum(adjustment_count) as bigint)                       as adjustment_count,
        cast(sum(adjustments) as numeric(14, 2))                    as adjustments,
        cast(sum(writeoffs) as numeric(14, 2))                      as writeoffs,
        cast(sum(gross_production) - sum(capitation_writeoffs) + sum(adjustments) - sum(writeoffs)
             as numeric(14, 2))                                     as net_production
    from parts
    where production_date is not null
    group by 1, 2, 3
    having sum(completed_procedure_count) > 0 or sum(adjustment_count) > 0
        or sum(capitation_writeoffs) <> 0 or sum(writeoffs) <> 0

)

select * from final
