{#-
    Fails with the rows whose `column_name` lies outside [min_value, max_value] (NULLs pass).
    Usage:  data_tests: [{in_range: {arguments: {min_value: 0, max_value: 100}}}]
-#}
{% test in_range(model, column_name, min_value, max_value) %}

select {{ column_name }}
from {{ model }}
where {{ column_name }} < {{ min_value }}
    or {{ column_name }} > {{ max_value }}

{% endtest %}
