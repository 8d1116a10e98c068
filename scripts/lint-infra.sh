#!/usr/bin/env bash
# `make lint-infra` (CI runs it): the SAM template through cfn-lint with the serverless rules
# and `sam validate --lint`, then the offline deploy rehearsal (scripts/rehearse_deploy.py):
# the stack created in moto's CloudFormation and its wiring checked. All offline.
source "$(dirname "$0")/lib.sh"

ensure_deploy_tools
ensure_rehearsal_tools
cd "$ROOT"
log "cfn-lint infra/template.yaml (with the cfn-lint-serverless rules)"
"$REHEARSAL_VENV/bin/cfn-lint" --append-rules cfn_lint_serverless.rules -- infra/template.yaml
log "sam validate --lint"
sam validate --lint --template-file infra/template.yaml --region us-east-1
log "deploy rehearsal: infra/template.yaml transformed and created in moto's CloudFormation"
"$REHEARSAL_VENV/bin/python" scripts/rehearse_deploy.py infra/template.yaml
