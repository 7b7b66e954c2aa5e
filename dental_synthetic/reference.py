"""Fixed reference data of the synthetic practice: procedure codes, fee levels, definitions, carriers, the
practice's region.

Everything here is invented for the demo (carriers, referral businesses) except the CDT procedure codes
themselves, whose descriptions are our own short wording, and the region (a real state, ZIP prefix and
area codes). People and places come from Faker (``dental_synthetic.identity``). Money is in whole US
dollars here and becomes integer cents in the generator. Durations are minutes.
"""

from __future__ import annotations

from dataclasses import dataclass

# --- coverage categories -------------------------------------------------------------------------------
# OpenDental keys coinsurance benefits by coverage category (table ``covcat``, which the raw layer does
# not replicate). The generator numbers its categories 1..8 in this order and writes those numbers into
# ``benefit.CovCatNum``. Each category belongs to a tier whose percentage the plan sets.
COVCATS: tuple[tuple[str, str], ...] = (
    ("Diagnostic", "preventive"),
    ("Preventive", "preventive"),
    ("Restorative", "basic"),
    ("Endodontics", "basic"),
    ("Periodontics", "basic"),
    ("Oral Surgery", "basic"),
    ("Crowns", "major"),
    ("Prosthodontics", "major"),
)
TIERS = ("preventive", "basic", "major")

# --- procedure codes -----------------------------------------------------------------------------------
# Treatment areas (OpenDental TreatmentArea): 1 surface, 2 tooth, 3 mouth, 4 quadrant, 6 arch.
SURF, TOOTH, MOUTH, QUAD, ARCH = 1, 2, 3, 4, 6


@dataclass(frozen=True)
class Code:
    """One procedure code: ``minutes`` of chair time, ``fee`` the standard (UCR) fee in dollars,
    ``category`` a key of PROC_CATEGORIES, ``covcat`` a name in COVCATS (None: insurance never pays)."""

    code: str
    descript: str
    abbr: str
    category: str
    minutes: int
    fee: int
    covcat: str | None
    area: int
    hygiene: bool = False
    prosth: bool = False
    base_units: int = 0


PROC_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("exam", "Exams & X-Rays"),
    ("prev", "Preventive"),
    ("rest", "Restorative"),
    ("endo", "Endodontics"),
    ("perio", "Periodontics"),
    ("crown", "Crowns & Bridges"),
    ("prosth", "Removable Prosthetics"),
    ("implant", "Implants"),
    ("surg", "Oral Surgery"),
    ("adj", "Adjunctive"),
)

CODES: tuple[Code, ...] = (
    Code("D0120", "Periodic evaluation, established patient", "PerEx", "exam", 10, 65, "Diagnostic", MOUTH),
    Code("D0140", "Limited evaluation, problem focused", "LimEx", "exam", 15, 95, "Diagnostic", MOUTH),
    Code("D0150", "Comprehensive evaluation, new or established patient", "CompEx", "exam", 20, 120,
         "Diagnostic", MOUTH),
    Code("D0180", "Comprehensive periodontal evaluation", "PerioEx", "exam", 20, 130, "Diagnostic", MOUTH),
    Code("D0210", "Intraoral complete radiographic series", "FMX", "exam", 20, 165, "Diagnostic", MOUTH),
    Code("D0220", "Periapical radiograph, first image", "PA", "exam", 5, 35, "Diagnostic", TOOTH),
    Code("D0230", "Periapical radiograph, each additional image", "PA+", "exam", 5, 30, "Diagnostic", TOOTH),
    Code("D0272", "Bitewings, two images", "2BW", "exam", 10, 60, "Diagnostic", MOUTH),
    Code("D0274", "Bitewings, four images", "4BW", "exam", 10, 80, "Diagnostic", MOUTH),
    Code("D0330", "Panoramic radiograph", "Pano", "exam", 10, 140, "Diagnostic", MOUTH),
    Code("D1110", "Prophylaxis, adult", "Pro", "prev", 50, 115, "Preventive", MOUTH, hygiene=True),
    Code("D1120", "Prophylaxis, child", "ChPro", "prev", 30, 85, "Preventive", MOUTH, hygiene=True),
    Code("D1206", "Topical fluoride varnish", "FlVarn", "prev", 5, 45, "Preventive", MOUTH, hygiene=True),
    Code("D1351", "Sealant, per tooth", "Seal", "prev", 10, 60, "Preventive", TOOTH, hygiene=True),
    Code("D2140", "Amalgam, one surface", "A1", "rest", 30, 150, "Restorative", SURF),
    Code("D2150", "Amalgam, two surfaces", "A2", "rest", 40, 185, "Restorative", SURF),
    Code("D2330", "Resin composite, one surface, anterior", "C1A", "rest", 30, 170, "Restorative", SURF),
    Code("D2331", "Resin composite, two surfaces, anterior", "C2A", "rest", 40, 205, "Restorative", SURF),
    Code("D2391", "Resin composite, one surface, posterior", "C1P", "rest", 40, 195, "Restorative", SURF),
    Code("D2392", "Resin composite, two surfaces, posterior", "C2P", "rest", 50, 245, "Restorative", SURF),
    Code("D2393", "Resin composite, three surfaces, posterior", "C3P", "rest", 60, 300, "Restorative", SURF),
    Code("D2740", "Crown, porcelain/ceramic", "CrnCer", "crown", 90, 1350, "Crowns", TOOTH, prosth=True),
    Code("D2750", "Crown, porcelain fused to high noble metal", "PFM", "crown", 90, 1300, "Crowns", TOOTH,
         prosth=True),
    Code("D2950", "Core buildup, including pins", "BU", "crown", 30, 320, "Crowns", TOOTH),
    Code("D2954", "Prefabricated post and core", "Post", "crown", 30, 380, "Crowns", TOOTH),
    Code("D6240", "Pontic, porcelain fused to high noble metal", "Pontic", "crown", 60, 1250, "Crowns", TOOTH,
         prosth=True),
    Code("D3220", "Therapeutic pulpotomy", "Pulpot", "endo", 40, 260, "Endodontics", TOOTH),
    Code("D3310", "Endodontic therapy, anterior tooth", "RCTAnt", "endo", 90, 900, "Endodontics", TOOTH),
    Code("D3320", "Endodontic therapy, premolar", "RCTPre", "endo", 90, 1050, "Endodontics", TOOTH),
    Code("D3330", "Endodontic therapy, molar", "RCTMol", "endo", 120, 1250, "Endodontics", TOOTH),
    Code("D4341", "Scaling and root planing, four or more teeth per quadrant", "SRP4", "perio", 60, 280,
         "Periodontics", QUAD),
    Code("D4342", "Scaling and root planing, one to three teeth per quadrant", "SRP13", "perio", 40, 200,
         "Periodontics", QUAD),
    Code("D4355", "Full mouth debridement", "FMD", "perio", 60, 190, "Periodontics", MOUTH, hygiene=True),
    Code("D4910", "Periodontal maintenance", "PerMnt", "perio", 60, 165, "Periodontics", MOUTH, hygiene=True),
    Code("D5110", "Complete denture, maxillary", "CDMax", "prosth", 120, 1900, "Prosthodontics", ARCH,
         prosth=True),
    Code("D5213", "Partial denture, maxillary, cast metal base", "RPDMax", "prosth", 90, 1950, "Prosthodontics",
         ARCH, prosth=True),
    Code("D6010", "Implant body, endosteal", "Impl", "implant", 90, 2300, "Prosthodontics", TOOTH),
    Code("D6065", "Implant supported crown, ceramic", "ImpCrn", "implant", 60, 1700, "Prosthodontics", TOOTH,
         prosth=True),
    Code("D7140", "Extraction, erupted tooth", "Ext", "surg", 30, 210, "Oral Surgery", TOOTH),
    Code("D7210", "Surgical extraction, erupted tooth", "SurgExt", "surg", 45, 360, "Oral Surgery", TOOTH),
    Code("D7240", "Removal of impacted tooth, completely bony", "ImpBony", "surg", 60, 520, "Oral Surgery",
         TOOTH),
    Code("D9110", "Palliative treatment of dental pain", "Pall", "adj", 15, 110, "Restorative", MOUTH),
    Code("D9243", "Intravenous sedation, each 15 minutes", "IVSed", "adj", 15, 210, "Oral Surgery", MOUTH,
         base_units=1),
    Code("D9944", "Occlusal guard, hard appliance, full arch", "NGuard", "adj", 30, 550, None, ARCH),
    Code("D9972", "External bleaching, per arch", "Bleach", "adj", 30, 350, None, ARCH),
    # charted complete when an appointment is broken (AppointmentL.BreakApptHelper); NoBillIns as OpenDental's
    # conversion sets them (ConvertDatabases3: "UPDATE procedurecode SET NoBillIns = 1 WHERE ProcCode='D9986'
    # OR ProcCode='D9987'"); no fee in the practice's schedules: it charges a broken appointment by an
    # adjustment (billing.MISSED_FEE)
    Code("D9986", "Missed appointment", "Missed", "adj", 10, 0, None, MOUTH),
    Code("D9987", "Cancelled appointment", "Cancel", "adj", 10, 0, None, MOUTH),
)
BROKEN_MISSED_CODE, BROKEN_CANCELLED_CODE = "D9986", "D9987"  # HistApptAction Missed, Cancelled

# --- fee schedules -------------------------------------------------------------------------------------
# (description, FeeSchedType, fee level relative to the standard fee: (low, high) drawn per code)
FEE_SCHEDULES: tuple[tuple[str, int, tuple[float, float]], ...] = (
    ("Standard", 0, (1.0, 1.0)),
    ("PPO Select", 0, (0.60, 0.72)),
    ("PPO Plus", 0, (0.72, 0.84)),
    ("Cash Courtesy", 0, (0.88, 0.92)),
)
FEE_STANDARD, FEE_PPO_SELECT, FEE_PPO_PLUS, FEE_CASH = 1, 2, 3, 4

# --- definitions ---------------------------------------------------------------------------------------
# (DefCat name, key, ItemName, ItemValue). The key is how the generator refers to a row.
DEFINITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("AdjTypes", "cash_discount", "Cash Discount", "-"),
    ("AdjTypes", "senior_discount", "Senior Discount", "-"),
    ("AdjTypes", "courtesy", "Professional Courtesy", "-"),
    ("AdjTypes", "small_balance", "Small Balance Write-off", "-"),
    ("AdjTypes", "missed_fee", "Missed Appointment Fee", "+"),
    ("AdjTypes", "finance_charge", "Finance Charge", "+"),
    ("ApptConfirmed", "not_called", "Not Called", ""),
    ("ApptConfirmed", "left_message", "Left Message", ""),
    ("ApptConfirmed", "texted", "Texted", ""),
    ("ApptConfirmed", "confirmed", "Confirmed", ""),
    ("ApptConfirmed", "arrived", "Arrived", ""),
    ("BillingTypes", "standard", "Standard Account", ""),
    ("BillingTypes", "email_bill", "Email Statements", "E"),
    ("BillingTypes", "collections", "Collections", "C"),
    ("PaymentTypes", "cash", "Cash", ""),
    ("PaymentTypes", "check", "Check", ""),
    ("PaymentTypes", "card", "Credit Card", ""),
    ("PaymentTypes", "financing", "Patient Financing", ""),
    ("PaySplitUnearnedType", "prepayment", "Prepayment", ""),  # '' = shown on the account (not hidden)
    # ItemValue set: "Do Not Show on Account" (OpenDental leaves these splits out of balances and income)
    ("PaySplitUnearnedType", "tp_prepayment", "Treatment Plan Prepayment", "X"),
    ("RecallUnschedStatus", "left_message", "Left Message", ""),
    ("RecallUnschedStatus", "no_answer", "No Answer", ""),
    ("RecallUnschedStatus", "will_call", "Will Call Back", ""),
    ("RecallUnschedStatus", "postcard", "Postcard Sent", ""),
    ("ImageCats", "xrays", "X-Rays", "X"),
    ("ImageCats", "photos", "Photos", ""),
    ("ImageCats", "forms", "Patient Forms", ""),
    ("ImageCats", "ins_cards", "Insurance Cards", ""),
    ("ImageCats", "tx_plans", "Treatment Plans", ""),
    ("TxPriorities", "urgent", "1 - Urgent", ""),
    ("TxPriorities", "soon", "2 - Soon", ""),
    ("TxPriorities", "elective", "3 - Elective", ""),
    ("CommLogTypes", "appt", "Appointment Related", "APPT"),
    ("CommLogTypes", "financial", "Financial", "FIN"),
    ("CommLogTypes", "recall", "Recall", "RECALL"),
    ("CommLogTypes", "insurance", "Insurance", ""),
    ("CommLogTypes", "misc", "Miscellaneous", "MISC"),
    ("InsurancePaymentType", "check", "Insurance Check", ""),
    ("InsurancePaymentType", "eft", "EFT", ""),
    ("ClaimPaymentGroups", "default", "Default", ""),
    ("ProviderSpecialties", "general", "General Dentistry", ""),
    ("ProviderSpecialties", "hygienist", "Hygienist", ""),
    ("ProviderSpecialties", "endo", "Endodontics", ""),
    ("ProviderSpecialties", "oral_surgery", "Oral Surgery", ""),
    ("ProviderSpecialties", "perio", "Periodontics", ""),
    ("ProviderSpecialties", "ortho", "Orthodontics", ""),
    ("ProviderSpecialties", "pediatric", "Pediatric Dentistry", ""),
)

# The rows a practice has in the other categories of OpenDental's DefCat (issue #14: every category a
# database in use holds), appended after DEFINITIONS with DefNums of their own so that no earlier key
# moves. Names follow OpenDental's stock rows where it ships some (its database conversion scripts:
# ProgNoteColors, MiscColors, InsuranceVerificationStatus, ProviderSpecialties...). The two retired
# categories (FeeSchedNamesOld, OperatoriesOld) hold nothing in a 24.3 database and get no row.
# ClaimCustomTracking and InsuranceVerificationStatus rows come from the insurance follow-up stage
# (dental_synthetic/insurance_followup.py), which uses them.
# ImageCats "statements": OpenDental files each sent statement's PDF in the image category whose
# ItemValue holds "S".
STOCK_DEFINITIONS: tuple[tuple[str, str, str, str], ...] = (
    ("AccountColors", "default", "Default", ""),
    ("AccountColors", "insurance_payment", "Insurance Payment", ""),
    ("AccountColors", "received_claim", "Received Ins Claim", ""),
    ("ApptProcsQuickAdd", "exam_prophy", "Exam, Prophy", "D0120,D1110"),
    ("ApptProcsQuickAdd", "bitewings", "4 Bitewings", "D0274"),
    ("ClaimFormats", "default", "Default", ""),
    ("DunningMessages", "past_due", "Past due", ""),
    ("MedicalNotes", "premedicate", "Premedicate before treatment", ""),
    ("ProgNoteColors", "today", "Appointment Background - Today", ""),
    ("ProgNoteColors", "past_text", "Past Appointment Text", ""),
    ("ProgNoteColors", "future_text", "Future Appointment Text", ""),
    ("ServiceNotes", "follow_up", "Follow-up needed", ""),
    ("DiscountTypes", "senior", "Senior", ""),
    ("DiscountTypes", "family", "Family", ""),
    ("Diagnosis", "caries", "Caries", ""),
    ("Diagnosis", "fracture", "Fracture", ""),
    ("AppointmentColors", "scheduled", "Scheduled", ""),
    ("AppointmentColors", "complete", "Complete", ""),
    ("AppointmentColors", "broken", "Broken", ""),
    ("ImageCats", "statements", "Statements", "S"),
    ("ApptPhoneNotes", "confirmed", "Confirmed by phone", ""),
    ("MiscColors", "family_referral", "Family Module Referral", ""),
    ("MiscColors", "family_ice", "Family Module ICE", ""),
    ("ChartGraphicColors", "condition", "Condition", ""),
    ("ContactCategories", "labs", "Labs", ""),
    ("ContactCategories", "specialists", "Specialists", ""),
    ("LetterMergeCats", "welcome", "Welcome", ""),
    ("BlockoutTypes", "lunch", "Lunch", ""),
    ("BlockoutTypes", "meeting", "Staff Meeting", ""),
    ("ProcButtonCats", "all", "All", ""),
    ("SupplyCats", "office", "Office", ""),
    ("SupplyCats", "clinical", "Clinical", ""),
    ("Prognosis", "good", "Good", ""),
    ("Prognosis", "fair", "Fair", ""),
    ("Prognosis", "poor", "Poor", ""),
    ("TaskPriorities", "urgent", "Urgent", ""),
    ("TaskPriorities", "normal", "Normal", "D"),
    ("FeeColors", "default", "Default", ""),
    ("ClaimPaymentTracking", "denied", "Denied", ""),
    ("ClaimPaymentTracking", "underpaid", "Underpaid", ""),
    ("AccountQuickCharge", "missed_fee", "Missed appointment fee", ""),
    ("Regions", "default", "Region 1", ""),
    ("AutoNoteCats", "hygiene", "Hygiene", ""),
    ("WebSchedNewPatApptTypes", "new_patient", "New Patient Exam", ""),
    ("ClaimErrorCode", "missing_tooth", "Missing tooth number", ""),
    ("ClinicSpecialty", "general", "General Dentistry", ""),
    ("JobPriorities", "normal", "Normal", ""),
    ("CarrierGroupNames", "commercial", "Commercial", ""),
    ("PayPlanCategories", "default", "Default", ""),
    ("AutoDeposit", "default", "Default", ""),
    ("InsuranceFilingCodeGroup", "commercial", "Commercial", ""),
    ("TimeCardAdjTypes", "pto", "PTO", ""),
    ("TimeCardAdjTypes", "holiday", "Holiday", ""),
    ("WebSchedExistingApptTypes", "cleaning", "Cleaning", ""),
    ("CertificationCategories", "safety", "Safety", ""),
    ("EClipboardImageCapture", "ins_card_front", "Insurance card front", ""),
    ("TaskCategories", "reminder", "Reminder", ""),
    ("OperatoryTypes", "hygiene", "Hygiene", ""),
    ("OperatoryTypes", "restorative", "Restorative", ""),
)

# --- appointment and recall types ----------------------------------------------------------------------
# (key, name, ARGB colour, default minutes, codes)
APPOINTMENT_TYPES: tuple[tuple[str, str, int, int, str], ...] = (
    ("new_patient", "New Patient", 0x3CB371, 80, "D0150,D0210,D1110"),
    ("hygiene", "Recall Hygiene", 0x87CEEB, 60, "D0120,D1110"),
    ("perio_maint", "Perio Maintenance", 0x5F9EA0, 70, "D0120,D4910"),
    ("restorative", "Restorative", 0xF4A460, 60, ""),
    ("crown", "Crown Prep", 0xDAA520, 120, "D2740,D2950"),
    ("endo", "Root Canal", 0xCD5C5C, 120, ""),
    ("perio_tx", "Scaling & Root Planing", 0x6B8E23, 120, "D4341"),
    ("surgery", "Surgery", 0x9370DB, 60, ""),
    ("emergency", "Emergency", 0xFF4500, 30, "D0140,D0220"),
)

# (key, description, interval as (years, months, weeks, days), time pattern, procedures)
RECALL_TYPES: tuple[tuple[str, str, tuple[int, int, int, int], str, str], ...] = (
    ("prophy", "Prophy", (0, 6, 0, 0), "/XXXX/", "D0120,D1110"),
    ("perio", "Perio", (0, 3, 0, 0), "/XXXXX/", "D4910"),
    ("child", "Child Prophy", (0, 6, 0, 0), "/XXX/", "D0120,D1120,D1206"),
    ("bitewing", "4BW", (1, 0, 0, 0), "", "D0274"),
    ("pano", "Pano", (5, 0, 0, 0), "", "D0330"),
)

# --- people and places ----------------------------------------------------------------------------------
# Names, streets, towns, employers come from Faker (``dental_synthetic.identity``); here only the practice's
# region: the state, the first three digits of its ZIP codes and its telephone area codes.
STATE = "OR"
ZIP_PREFIX = "974"  # ZIP codes 974xx (the Eugene area, Oregon)
AREA_CODES = ("541", "458")  # the region's area codes: home phones, the practice's own numbers
MOBILE_AREA_CODES = AREA_CODES + ("503", "971", "360", "208", "707", "775")  # mobiles kept from elsewhere too

# The clinics, named after the town they are in (the first and second town of the Faker pool).
CLINIC_NAMES = ("{town} Family Dental", "{town} Dental Care")

CARRIERS: tuple[tuple[str, str], ...] = (
    ("Summit Dental Benefits", "SDB01"),
    ("Evergreen Mutual Dental", "EMD22"),
    ("Pacific Shield Insurance", "PSI37"),
    ("Northstar Health Plans", "NHP45"),
    ("Beacon Dental Alliance", "BDA51"),
    ("Keystone Benefit Group", "KBG63"),
    ("Harborline Assurance", "HLA70"),
    ("Frontier Workers Trust", "FWT88"),
)

# Referral sources: (specialty key or "", the business after the town's name, or the marketing source's
# name when NotPerson). Specialists' own names, addresses and phones come from the Faker pools.
REFERRALS: tuple[tuple[str, str], ...] = (
    ("oral_surgery", "Oral Surgery"),
    ("oral_surgery", "Oral & Facial Surgery"),
    ("endo", "Endodontics"),
    ("endo", "Root Canal Specialists"),
    ("perio", "Periodontal Associates"),
    ("ortho", "Orthodontics"),
    ("pediatric", "Pediatric Dentistry"),
    ("", "Online Search"),
    ("", "Insurance Directory"),
    ("", "Community Event"),
    ("", "Friend or Family"),
    ("", "Physician Referral"),
)

MEDICAL_NOTES = (
    "Penicillin allergy", "Latex allergy", "Takes anticoagulant", "Type 2 diabetes", "Hypertension",
    "Asthma, carries inhaler", "Artificial knee joint", "Heart murmur",
)
