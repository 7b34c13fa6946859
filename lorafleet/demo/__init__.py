"""The end-to-end demo (`lorafleet demo`) and the local three-service cluster it runs on."""

# Defaults shared by the CLI flags and ``Demo`` (kept here: the CLI must not import the runner to
# build its parser). The gates for the 135M demo model, see eval_service/policies/small-model.yaml;
# 24 cases per suite (stratified) keep the demo within 15 minutes on a 2-core CPU.
DEMO_POLICY = "small-model"
DEMO_CASES_PER_SUITE = 24
