"""The rules: functions (and later versions, aliases, layers, policies, mappings) on the store."""
