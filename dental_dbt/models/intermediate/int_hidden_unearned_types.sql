-- The unearned (prepayment) types the practice marked "Do Not Show on Account", one row per type:
-- definition rows of Category 29 (DefCat PaySplitUnearnedType) with a non-empty ItemValue, as OpenDental
-- 24.3 finds them (Defs.GetDefsForCategory(PaySplitUnearnedType) with ItemValue set). Their paysplits are
-- left out of aging (int_aging_transactions) and of income (mart_collections_daily).

select
    def_num                                                         as unearned_type_id,
    item_name                                                       as unearned_type_name
from {{ ref('stg_opendental__definition') }}
where category_code = 29
  and coalesce(item_value, '') <> ''
