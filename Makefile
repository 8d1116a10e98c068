# The two commands a new user needs: `make run` and `make test`. See README.md.
.PHONY: run test api-key

run:
	@bash scripts/run.sh

test:
	@bash scripts/test.sh

# A new API key for ACCOUNT against the running local stack (`make run`).
api-key:
	@bash scripts/api-key.sh "$(ACCOUNT)"
