-- Which rule the stored sessions were cut with (SessionRule.describe()). When the code's rule
-- differs (a new default constant, a tenant row from before this column), the next transaction
-- that opens the tenant re-checks every gap under the current rule and publishes what moved,
-- instead of leaving old-rule sessions next to new-rule ones. NULL = unknown: re-check.
ALTER TABLE tenant_state ADD COLUMN segmented_with text;
