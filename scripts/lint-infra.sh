#!/usr/bin/env bash
# `make lint-infra`: the SAM template through cfn-lint and `sam validate --lint` (both offline).
source "$(dirname "$0")/lib.sh"

ensure_deploy_tools
cd "$ROOT"
log "cfn-lint infra/template.yaml"
cfn-lint infra/template.yaml
log "sam validate --lint"
sam validate --lint --template-file infra/template.yaml --region us-east-1
