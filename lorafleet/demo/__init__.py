"""The end-to-end demo (`lorafleet demo`) and the local three-service cluster it runs on."""

# Defaults shared by the CLI flags and ``Demo`` (kept here: the CLI must not import the runner to
# build its parser). The default policy (eval_service/policies/default.yaml), as a production fleet would
# gate; 24 cases per suite (stratified) keep the offline evaluations near a minute each on a 2-core CPU.
DEMO_POLICY = "default"
DEMO_CASES_PER_SUITE = 24
# Inference serves the base the demo's QLoRA adapters were trained on (nf4), unless
# LORAFLEET_QUANTIZATION says otherwise. The CPU default (int4, the GGUF's own grid) is closer to the
# original model, and a QLoRA adapter served on a base it was not trained on behaves differently:
# the demo's retrained v3 refused 38.9% of live requests on int4 against 24.3% for v1 (and was rolled
# back), 23.5% against 26.7% on nf4.
DEMO_QUANTIZATION = "nf4"
