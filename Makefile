# The two commands a new user needs: `make run` and `make test`. See README.md.
.PHONY: run test bench simulate api-key admin lint-infra package deploy-build

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

# The benchmarks of BENCHMARKS.md (release builds; several minutes). Not part of `make test`.
bench:
	@bash scripts/bench.sh

# The delivery simulation over SEEDS seeds from FIRST, every fault on (see RELIABILITY.md).
SEEDS ?= 200
FIRST ?= 0
simulate:
	@cargo run -q --profile sim -p hookline-simulation --bin simulate -- --seeds $(SEEDS) --first $(FIRST)

# A new API key for ACCOUNT against the running local stack (`make run`).
api-key:
	@bash scripts/api-key.sh "$(ACCOUNT)"

# hookline-admin against the running local stack: make admin ARGS="keys list --account demo".
admin:
	@bash scripts/admin.sh $(ARGS)

# The SAM template through cfn-lint (with the serverless rules) and `sam validate --lint`,
# then the offline deploy rehearsal in moto's CloudFormation (CI runs it).
lint-infra:
	@bash scripts/lint-infra.sh

# Release builds of the functions for Lambda (ARCH=arm64 or x86_64), with their sizes.
package:
	@bash scripts/package.sh "$(or $(ARCH),arm64)"

# `sam build` of infra/template.yaml, as the Deploy section of the README runs it.
deploy-build:
	@bash -c 'source scripts/lib.sh && ensure_deploy_tools && ensure_cargo_lambda && cd "$$ROOT" && PATH="$$VENV/bin:$$PATH" sam build -t infra/template.yaml'
