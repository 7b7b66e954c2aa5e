-- One row per OpenDental security log entry (securitylog.SecurityLogNum), System H (system logs): who
-- (UserNum; user_provider_id is the provider that user is, userod.ProvNum), what (PermType decoded to
-- OpenDental's EnumPermType name, as OpenDental spells it, e.g. AppointmentCreate), when (LogDateTime),
-- on which patient (PatNum) and row (FKey: the key of the row the action touched, e.g. AptNum for
-- AppointmentCreate). LogText is not carried: in a real practice it can hold patient data. A PermType
-- OpenDental 24.3 does not define (staging's perm_type NULL, the stored code in perm_type_code) decodes
-- to 'unknown'.

{# OpenDental 24.3 EnumPermType names, position = code (opendental_enums_24_3.json; a test compares them) #}
{% set perm_type_names = [
    'None', 'AppointmentsModule', 'FamilyModule', 'AccountModule', 'TPModule', 'ChartModule',
    'ImagingModule', 'ManageModule', 'Setup', 'RxCreate', 'ProcComplEdit', 'ChooseDatabase',
    'Schedules', 'Blockouts', 'ClaimSentEdit', 'PaymentCreate', 'PaymentEdit', 'AdjustmentCreate',
    'AdjustmentEdit', 'UserQuery', 'StartupSingleUserOld', 'StartupMultiUserOld', 'Reports',
    'ProcComplCreate', 'SecurityAdmin', 'AppointmentCreate', 'AppointmentMove', 'AppointmentEdit',
    'Backup', 'TimecardsEditAll', 'DepositSlips', 'AccountingEdit', 'AccountingCreate', 'Accounting',
    'AnesthesiaIntakeMeds', 'AnesthesiaControlMeds', 'InsPayCreate', 'InsPayEdit', 'TreatPlanEdit',
    'ReportProdInc', 'TimecardDeleteEntry', 'EquipmentDelete', 'SheetEdit', 'CommlogEdit',
    'ImageDelete', 'PerioEdit', 'ProcEditShowFee', 'AdjustmentEditZero', 'EhrEmergencyAccess',
    'ProcDelete', 'EhrKeyAdd', 'ProviderEdit', 'EcwAppointmentRevise', 'ProcedureNoteFull',
    'ReferralAdd', 'InsPlanChangeSubsc', 'RefAttachAdd', 'RefAttachDelete', 'CarrierCreate',
    'GraphicalReports', 'AutoNoteQuickNoteEdit', 'EquipmentSetup', 'Billing', 'ProblemDefEdit',
    'ProcFeeEdit', 'InsPlanChangeCarrierName', 'TaskNoteEdit', 'WikiListSetup', 'Copy', 'Printing',
    'MedicalInfoViewed', 'PatProblemListEdit', 'PatMedicationListEdit', 'PatAllergyListEdit',
    'PatFamilyHealthEdit', 'PatientPortal', 'RxEdit', 'AdminDentalStudents', 'AdminDentalInstructors',
    'OrthoChartEditFull', 'PatientFieldEdit', 'AdminDentalEvaluations', 'TreatPlanDiscountEdit',
    'UserLogOnOff', 'TaskEdit', 'EmailSend', 'WebMailSend', 'UserQueryAdmin', 'InsPlanChangeAssign',
    'ImageEdit', 'EhrMeasureEventEdit', 'EServicesSetup', 'FeeSchedEdit', 'ProviderFeeEdit',
    'PatientMerge', 'ClaimHistoryEdit', 'AppointmentCompleteEdit', 'WebMailDelete', 'RequiredFields',
    'ReferralMerge', 'ProcEdit', 'ProviderMerge', 'MedicationMerge', 'AccountProcsQuickAdd',
    'ClaimSend', 'TaskListCreate', 'PatientCreate', 'GraphicalReportSetup', 'PatientEdit',
    'InsPlanCreate', 'InsPlanEdit', 'InsPlanCreateSub', 'InsPlanEditSub', 'InsPlanAddPat',
    'InsPlanDropPat', 'InsPlanVerifyList', 'SplitCreatePastLockDate', 'ProcComplEditLimited',
    'ClaimDelete', 'InsWriteOffEdit', 'ApptConfirmStatusEdit', 'GraphicsRemoteEdit', 'AuditTrail',
    'TreatPlanPresenterEdit', 'ProviderAlphabetize', 'ClaimProcReceivedEdit', 'StatementPatNumMismatch',
    'MobileWeb', 'PatPlanCreate', 'PatPriProvEdit', 'ReferralEdit', 'PatientBillingEdit',
    'ReportProdIncAllProviders', 'ReportDaily', 'ReportDailyAllProviders', 'PatientApptRestrict',
    'SheetDelete', 'UpdateCustomTracking', 'GraphicsEdit', 'InsPlanOrthoEdit',
    'ClaimProcClaimAttachedProvEdit', 'InsPlanMerge', 'InsCarrierCombine', 'PopupEdit',
    'InsPlanPickListExisting', 'OrthoChartEditUser', 'ProcedureNoteUser', 'GroupNoteEditSigned',
    'WikiAdmin', 'PayPlanEdit', 'ClaimEdit', 'CommandQuery', 'ReplicationSetup', 'PreAuthSentEdit',
    'LogFeeEdit', 'LogSubscriberEdit', 'RecallEdit', 'ProcCodeEdit', 'AddNewUser', 'ClaimView',
    'RepeatChargeTool', 'DiscountPlanAddDrop', 'TreatPlanSign', 'ProcExistingEdit',
    'UnrestrictedSearch', 'ArchivedPatientEdit', 'CommlogPersistent', 'VerifyPhoneOwnership',
    'SalesTaxAdjEdit', 'InsuranceVerification', 'CreditCardMove', 'AgingRan', 'HeadmasterSetup',
    'DashboardWidget', 'NewClaimsProcNotBilled', 'PatientPortalLogin', 'FAQEdit', 'FeatureRequestEdit',
    'TaskReminderPopup', 'SupplementalBackup', 'WebSchedRecallManualSend', 'PatientSSNView',
    'PatientDOBView', 'FamAgingTruncate', 'DiscountPlanMerge', 'ProcCompleteStatusEdit',
    'ProcCompleteAddAdj', 'ProcCompleteEditMisc', 'ProcCompleteNote', 'ProcCompleteEdit',
    'ProtectedLeaveAdjustmentEdit', 'TimeAdjustEdit', 'QueryMonitor', 'CommlogCreate', 'WebFormAccess',
    'CloseOtherSessions', 'RepeatChargeCreate', 'RepeatChargeUpdate', 'RepeatChargeDelete', 'Zoom',
    'FormAdded', 'ImageExport', 'ImageCreate', 'CertificationEmployee', 'CertificationSetup',
    'EmployerCreate', 'AllowLoginFromAnyLocation', 'LogDoseSpotMedicationNoteEdit',
    'PayPlanChargeDateEdit', 'DiscountPlanAdd', 'DiscountPlanEdit', 'AllowFeeEditWhileReceivingClaim',
    'ManageHighSecurityProgProperties', 'CreditCardEdit', 'MedicationDefEdit', 'AllergyDefEdit',
    'Advertising', 'TextMessageView', 'TextMessageSend', 'RxMerge', 'DefEdit', 'UpdateInstall',
    'AdjustmentTypeDeny', 'StatementCSV', 'CarrierEdit', 'ApiSubscription', 'SecurityGlobal',
    'EditReadOnlyTasks', 'TaskDelete', 'SetupWizard', 'ShowFeatures', 'PrinterSetup', 'ProviderAdd',
    'ClinicEdit', 'ApiAccountEdit', 'RegistrationKeyCreate', 'RegistrationKeyEdit', 'AppointmentDelete',
    'AppointmentCompleteDelete', 'AppointmentTypeEdit', 'TextingAccountEdit', 'WebChatEdit',
    'SupplierEdit', 'SupplyPurchases', 'PreferenceEditBroadcastMonitor', 'AppointmentResize',
    'CreditCardTerminal', 'ViewAppointmentAuditTrail', 'PayPlanChargeEdit', 'ArchivedPatientSelect',
    'CloudCustomerEdit', 'ChanSpy', 'ClaimProcFeeBilledToInsEdit', 'AllergyMerge', 'AiChatSession',
    'BadgeIdEdit', 'ChildDaycareEdit', 'PerioEditCopy'
] %}

with security_logs as (

    select * from {{ ref('stg_opendental__securitylog') }}

),

users as (

    select
        user_num,
        prov_num
    from {{ ref('stg_opendental__userod') }}

),

permissions (perm_type, permission) as (

    values
    {%- for name in perm_type_names %}
        ({{ loop.index0 }}, '{{ name }}'){{ "," if not loop.last }}
    {%- endfor %}

),

final as (

    select
        security_logs.security_log_num                              as security_log_id,
        security_logs.user_num                                      as user_id,
        users.prov_num                                              as user_provider_id,
        security_logs.perm_type_code,
        security_logs.perm_type,
        coalesce(permissions.permission, 'unknown')                 as permission,
        security_logs.log_date_time                                 as logged_at,
        cast(security_logs.log_date_time as date)                   as log_date,
        security_logs.pat_num                                       as patient_id,
        security_logs.f_key                                         as f_key,
        security_logs.log_source_code                               as log_source_code
    from security_logs
    left join permissions
        on security_logs.perm_type = permissions.perm_type
    left join users
        on security_logs.user_num = users.user_num

)

select * from final
