"""An offline deploy rehearsal of infra/template.yaml (`make lint-infra`, CI).

The SAM template is transformed with aws-sam-translator, as `sam deploy` has CloudFormation do,
and the stack is created in moto's CloudFormation (in process, nothing leaves the machine).
Then the wiring moto created is read back through the AWS APIs and checked: each queue's
dead-letter queue, the event source mappings and their partial-batch setting, the variables
naming the table, queues and key each function uses, the IAM policies naming exactly the
resources each function calls, the key policy, reserved concurrency. For what moto does not
create (the HTTP API, its stage, the alarms), the transformed template is checked instead.

To show the checks can fail, the same runs on copies of the template broken on purpose (a
wrong dead-letter target, a missing partial-batch setting, a queue URL variable naming the
wrong queue, ...): each must fail, on the check that names its fault.

    python scripts/rehearse_deploy.py infra/template.yaml
"""

import copy
import io
import json
import logging
import os
import ast
import contextlib
import sys
import urllib.parse
import warnings
import zipfile

os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_ACCESS_KEY_ID", "rehearsal")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "rehearsal")

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from samtranslator.translator.transform import transform  # noqa: E402
from samtranslator.yaml_helper import yaml_parse  # noqa: E402

# moto logs a warning for each resource type it skips; those are checked in the template
# instead. This script reports with print, not logging.
logging.disable(logging.WARNING)

PARAMETERS = {"SenderEmail": "alerts@example.com", "SesIdentity": "example.com"}
CODE_BUCKET, CODE_KEY = "rehearsal-code", "bootstrap.zip"
STACK = "hookline"
KMS_CONTEXT = ("kms:EncryptionContext:purpose", "hookline-webhook-credentials")

# What each function calls, from the code: (DynamoDB actions, SQS sends, SQS event sources,
# sends e-mail, KMS actions through the key policy).
DYNAMO_ALL = {
    "dynamodb:GetItem",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:Query",
    "dynamodb:TransactWriteItems",
}
FUNCTIONS = {
    "WebhooksApi": {
        "name": "webhooks-api",
        "dynamo": DYNAMO_ALL,
        "sends_to": {"EventsQueue", "DeliveriesQueue", "SlowDeliveriesQueue"},
        "polls": set(),
        "mails": False,
        "kms": {"kms:GenerateDataKey", "kms:Decrypt"},
        "env_queues": {
            "HOOKLINE_EVENTS_QUEUE_URL": "EventsQueue",
            "HOOKLINE_DELIVERIES_QUEUE_URL": "DeliveriesQueue",
            "HOOKLINE_SLOW_DELIVERIES_QUEUE_URL": "SlowDeliveriesQueue",
        },
    },
    "InboundResolver": {
        "name": "inbound-resolver",
        # Webhook and key reads, the log entry and notice claim, the allowance counters.
        "dynamo": {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        "sends_to": set(),
        "polls": set(),
        "mails": True,
        "kms": {"kms:Decrypt"},
        "env_queues": {},
    },
    "OutboundDelivery": {
        "name": "outbound-delivery",
        "dynamo": DYNAMO_ALL,
        "sends_to": {"DeliveriesQueue", "SlowDeliveriesQueue"},
        "polls": {"EventsQueue", "DeliveriesQueue", "SlowDeliveriesQueue"},
        "mails": True,
        "kms": {"kms:GenerateDataKey", "kms:Decrypt"},
        "env_queues": {
            "HOOKLINE_EVENTS_QUEUE_URL": "EventsQueue",
            "HOOKLINE_DELIVERIES_QUEUE_URL": "DeliveriesQueue",
            "HOOKLINE_SLOW_DELIVERIES_QUEUE_URL": "SlowDeliveriesQueue",
        },
    },
}
DEAD_LETTERS = {
    "EventsQueue": "EventsDeadLetterQueue",
    "DeliveriesQueue": "DeliveriesDeadLetterQueue",
    "SlowDeliveriesQueue": "DeliveriesDeadLetterQueue",
}
RESOLVE_ROUTE = "POST /api/v1/webhook/{id}/resolve"
# What the account may do with the credentials key: administer it, never use it (no Decrypt,
# no grants: a grant would escape the encryption-context condition).
KMS_ADMIN_ACTIONS = {
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:PutKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:EnableKeyRotation",
    "kms:DisableKeyRotation",
    "kms:ListResourceTags",
    "kms:TagResource",
    "kms:UntagResource",
    "kms:UpdateKeyDescription",
    "kms:EnableKey",
    "kms:DisableKey",
    "kms:ListGrants",
    "kms:RevokeGrant",
    "kms:ScheduleKeyDeletion",
    "kms:CancelKeyDeletion",
    "kms:CreateAlias",
    "kms:UpdateAlias",
    "kms:DeleteAlias",
}


class Failures:
    def __init__(self):
        self.items = []

    def check(self, name, ok, detail=""):
        if not ok:
            self.items.append(f"{name}: {detail}" if detail else name)


def policy_document(text):
    """A role policy as IAM answers it (URL-encoded JSON), or as moto 5.2.5 keeps one made by
    CloudFormation (the Python form of the object)."""
    try:
        return json.loads(urllib.parse.unquote(text))
    except json.JSONDecodeError:
        return ast.literal_eval(text)


def as_list(x):
    return x if isinstance(x, list) else [x]


def transformed(sam, parameters):
    sam = copy.deepcopy(sam)
    for resource in sam["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = f"s3://{CODE_BUCKET}/{CODE_KEY}"

    class NoManagedPolicies:
        def load(self):
            return {}

    return transform(sam, parameters, NoManagedPolicies())


def check_stack(cfn, f, parameters):
    """Creates the stack in moto and checks what it made; adds to `f`."""
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=CODE_BUCKET)
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as z:
        z.writestr("bootstrap", "#!/bin/sh\n")
    s3.put_object(Bucket=CODE_BUCKET, Key=CODE_KEY, Body=code.getvalue())
    cf = boto3.client("cloudformation")
    cf.create_stack(
        StackName=STACK,
        TemplateBody=json.dumps(cfn),
        Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in parameters.items()],
        Capabilities=["CAPABILITY_IAM"],
    )
    status = cf.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"]
    f.check("stack created", status == "CREATE_COMPLETE", status)
    physical = {
        r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
        for r in cf.list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    }
    sqs, lam, iam, kms = (boto3.client(n) for n in ("sqs", "lambda", "iam", "kms"))
    key_id = physical.get("CredentialsKey")
    if key_id:
        # moto 5.2.5 keeps a key policy made through CloudFormation as an object, where its
        # KMS API expects the JSON text (DescribeKey then fails): stored here as AWS would.
        from moto.kms.models import kms_backends

        key = kms_backends["123456789012"]["us-east-1"].keys[key_id]
        if isinstance(key.policy, dict):
            # It also keeps a statement made AWS::NoValue by an !If as null, where
            # CloudFormation leaves it out.
            policy = dict(key.policy)
            policy["Statement"] = [st for st in policy["Statement"] if st]
            key.policy = json.dumps(policy)
    dynamodb = boto3.client("dynamodb")

    # Queues: their dead-letter queues, visibility, encryption.
    queue_url = {q: physical.get(q) for q in list(DEAD_LETTERS) + sorted(set(DEAD_LETTERS.values()))}
    queue_arn = {}
    for logical, url in queue_url.items():
        f.check(f"queue {logical} created", bool(url))
        if url:
            queue_arn[logical] = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
                "Attributes"
            ]["QueueArn"]
    delivery_timeout = None
    functions = {}
    for logical, spec in FUNCTIONS.items():
        name = physical.get(f"{logical}Function")
        f.check(f"function {logical} created", bool(name))
        if name:
            functions[logical] = lam.get_function(FunctionName=name)
    if "OutboundDelivery" in functions:
        delivery_timeout = functions["OutboundDelivery"]["Configuration"]["Timeout"]
    for queue, dlq in DEAD_LETTERS.items():
        if queue not in queue_url or not queue_url[queue]:
            continue
        attributes = sqs.get_queue_attributes(QueueUrl=queue_url[queue], AttributeNames=["All"])["Attributes"]
        redrive = json.loads(attributes.get("RedrivePolicy", "{}"))
        f.check(
            f"{queue} dead-letters to {dlq}",
            redrive.get("deadLetterTargetArn") == queue_arn.get(dlq),
            f"dead-letter target is {redrive.get('deadLetterTargetArn')}",
        )
        f.check(f"{queue} redrives after 20 receives", int(redrive.get("maxReceiveCount", 0)) == 20)
        if delivery_timeout:
            # Lambda's advice for SQS event sources: visibility at least six function timeouts.
            visibility = int(attributes["VisibilityTimeout"])
            f.check(
                f"{queue} visibility covers six delivery timeouts",
                visibility >= 6 * delivery_timeout,
                f"{visibility} s < 6 x {delivery_timeout} s",
            )
    for queue in queue_url:
        template_props = cfn["Resources"][queue]["Properties"]
        f.check(f"{queue} encrypted at rest", template_props.get("SqsManagedSseEnabled") is True)

    # Event source mappings: the delivery function on its three queues, partial batch failures.
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    by_queue = {}
    for m in mappings:
        by_queue.setdefault(m["EventSourceArn"], []).append(m)
    delivery_arn = functions.get("OutboundDelivery", {}).get("Configuration", {}).get("FunctionArn")
    for queue in FUNCTIONS["OutboundDelivery"]["polls"]:
        found = by_queue.get(queue_arn.get(queue), [])
        f.check(f"one event source on {queue}", len(found) == 1, f"{len(found)} found")
        for m in found:
            f.check(f"{queue}'s event source feeds outbound-delivery", m["FunctionArn"] == delivery_arn)
            f.check(
                f"{queue}'s event source reports partial batch failures",
                "ReportBatchItemFailures" in m.get("FunctionResponseTypes", []),
                f"FunctionResponseTypes = {m.get('FunctionResponseTypes')}",
            )
            f.check(f"{queue}'s event source caps its concurrency", "MaximumConcurrency" in m.get("ScalingConfig", {}))
    f.check("no other event sources", len(mappings) == 3, f"{len(mappings)} mappings")

    # Environment: the table, queues and key each function is wired to.
    table = physical.get("Table")
    f.check("table created", bool(table) and dynamodb.describe_table(TableName=table)["Table"]["TableStatus"] == "ACTIVE")
    key_arn = kms.describe_key(KeyId=key_id)["KeyMetadata"]["Arn"] if key_id else None
    for logical, function in functions.items():
        env = function["Configuration"].get("Environment", {}).get("Variables", {})
        f.check(f"{logical}: HOOKLINE_TABLE_NAME names the table", env.get("HOOKLINE_TABLE_NAME") == table, env.get("HOOKLINE_TABLE_NAME"))
        f.check(f"{logical}: HOOKLINE_KMS_KEY_ID names the credentials key", bool(key_arn) and env.get("HOOKLINE_KMS_KEY_ID") == key_arn, env.get("HOOKLINE_KMS_KEY_ID"))
        for variable, queue in FUNCTIONS[logical]["env_queues"].items():
            f.check(
                f"{logical}: {variable} names {queue}",
                env.get(variable) == queue_url.get(queue),
                f"it names {env.get(variable)}",
            )
        if FUNCTIONS[logical]["mails"]:
            f.check(f"{logical}: HOOKLINE_SENDER_EMAIL", env.get("HOOKLINE_SENDER_EMAIL") == PARAMETERS["SenderEmail"])

    # IAM: each role allows exactly what its function calls, on exactly those resources.
    table_arn = dynamodb.describe_table(TableName=table)["Table"]["TableArn"] if table else None
    for logical, function in functions.items():
        spec = FUNCTIONS[logical]
        role_name = function["Configuration"]["Role"].rsplit("/", 1)[-1]
        statements = []
        for policy in iam.list_role_policies(RoleName=role_name)["PolicyNames"]:
            doc = iam.get_role_policy(RoleName=role_name, PolicyName=policy)["PolicyDocument"]
            if isinstance(doc, str):
                doc = policy_document(doc)
            statements += as_list(doc["Statement"])
        f.check(f"{logical}: no managed policies", not iam.list_attached_role_policies(RoleName=role_name)["AttachedPolicies"])
        granted = {}
        for st in statements:
            f.check(f"{logical}: only Allow statements", st.get("Effect") == "Allow")
            for action in as_list(st["Action"]):
                granted.setdefault(action, set()).update(as_list(st["Resource"]))
        dynamo = {a for a in granted if a.startswith("dynamodb:")}
        f.check(f"{logical}: DynamoDB actions", dynamo == spec["dynamo"], f"{sorted(dynamo)}")
        for action in dynamo:
            f.check(f"{logical}: {action} on the table only", granted[action] == {table_arn}, f"{granted[action]}")
        sends = granted.get("sqs:SendMessage", set())
        f.check(
            f"{logical}: sqs:SendMessage on exactly its queues",
            sends == {queue_arn.get(q) for q in spec["sends_to"]},
            f"{sorted(sends)}",
        )
        for action in ("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"):
            f.check(
                f"{logical}: {action} on exactly its event sources",
                granted.get(action, set()) == {queue_arn.get(q) for q in spec["polls"]},
                f"{sorted(granted.get(action, set()))}",
            )
        ses = granted.get("ses:SendEmail", set())
        f.check(f"{logical}: ses:SendEmail only if it mails, on the identity", (ses != set()) == spec["mails"] and all(r.endswith(":identity/" + PARAMETERS["SesIdentity"]) for r in ses))
        logs = granted.get("logs:PutLogEvents", set())
        f.check(f"{logical}: logs on its own group only", logs == {f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/lambda/{STACK}-{spec['name']}:*"}, f"{logs}")
        others = {a for a in granted if not a.startswith(("dynamodb:", "sqs:", "ses:", "logs:"))}
        f.check(f"{logical}: nothing else", not others, f"{sorted(others)}")

    # The key policy: the account administers the key and nothing more; each function's role
    # may use it for exactly what the function does, under Hookline's encryption context; no
    # one else (no other principal, no service, no grants) may do anything.
    f.check("credentials key created", bool(key_id))
    if key_id:
        policy = json.loads(kms.get_key_policy(KeyId=key_id, PolicyName="default")["Policy"])
        root = "arn:aws:iam::123456789012:root"
        uses = {}
        for st in policy["Statement"]:
            sid = st.get("Sid", "?")
            f.check(f"key policy {sid}: Allow only", st.get("Effect") == "Allow")
            principal = st.get("Principal", {})
            f.check(f"key policy {sid}: AWS principals only", isinstance(principal, dict) and set(principal) == {"AWS"}, f"{principal}")
            principals = set(as_list(principal.get("AWS", []))) if isinstance(principal, dict) else {"*"}
            actions = set(as_list(st["Action"]))
            if principals == {root}:
                f.check(
                    f"key policy {sid}: the account only administers the key",
                    actions <= KMS_ADMIN_ACTIONS,
                    f"{sorted(actions - KMS_ADMIN_ACTIONS)}",
                )
                continue
            context = st.get("Condition", {}).get("StringEquals", {}).get(KMS_CONTEXT[0])
            f.check(f"key policy {sid}: bound to Hookline's encryption context", context == KMS_CONTEXT[1], f"{context}")
            for p in principals:
                uses.setdefault(p, set()).update(actions)
        for logical, function in functions.items():
            role_arn = function["Configuration"]["Role"]
            granted = uses.pop(role_arn, set())
            f.check(f"key policy: {logical} may {sorted(FUNCTIONS[logical]['kms'])}", granted == FUNCTIONS[logical]["kms"], f"{sorted(granted)}")
        operator = parameters.get("OperatorRoleArn")
        if operator:
            granted = uses.pop(operator, set())
            f.check("key policy: the operator role may reseal", granted == {"kms:GenerateDataKey", "kms:Decrypt"}, f"{sorted(granted)}")
        f.check("key policy: no one else may use the key", not uses, f"{uses}")
        f.check("credentials key rotates", kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"])

    # Reserved concurrency: the resolver's ceiling, delivery's floor.
    for logical in ("InboundResolver", "OutboundDelivery"):
        if logical in functions:
            reserved = functions[logical].get("Concurrency", {}).get("ReservedConcurrentExecutions")
            f.check(f"{logical}: reserved concurrency", isinstance(reserved, int) and reserved > 0, f"{reserved}")


def check_template(cfn, f):
    """What moto does not create: the HTTP API's routes and stage, the alarms."""
    resources = cfn["Resources"]
    api = resources.get("HttpApi", {}).get("Properties", {}).get("Body", {})
    routes = {}
    for path, methods in api.get("paths", {}).items():
        for method, op in methods.items():
            uri = json.dumps(op.get("x-amazon-apigateway-integration", {}).get("uri", ""))
            verb = "ANY" if method == "x-amazon-apigateway-any-method" else method.upper()
            routes[f"{verb} {path}"] = uri
    expected = {
        "ANY /api/v1/webhook": "WebhooksApiFunction",
        "ANY /api/v1/webhook/{proxy+}": "WebhooksApiFunction",
        "POST /api/v1/events": "WebhooksApiFunction",
        "GET /api/v1/openapi.json": "WebhooksApiFunction",
        "GET /api/v1/event-types": "WebhooksApiFunction",
        RESOLVE_ROUTE: "InboundResolverFunction",
    }
    for route, function in expected.items():
        f.check(f"route {route} goes to {function}", function in routes.get(route, ""), routes.get(route, "missing"))
    stage = resources.get("HttpApiStage", {}).get("Properties", {})
    default = stage.get("DefaultRouteSettings", {})
    f.check("every route is throttled", {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(default), f"{default}")
    resolve = stage.get("RouteSettings", {}).get(RESOLVE_ROUTE, {})
    f.check("the resolve route has its own throttling", {"ThrottlingRateLimit", "ThrottlingBurstLimit"} <= set(resolve), f"{resolve}")
    log_format = stage.get("AccessLogSettings", {}).get("Format", "")
    f.check("the stage writes access logs", bool(log_format))
    for leak in ("$context.path", "querystring", "$request.header", "$context.authorizer", "authorization"):
        f.check(f"access logs leave out {leak}", leak not in log_format.lower() if leak.islower() else leak not in log_format)
    # Each dead-letter queue has an alarm on messages waiting in it.
    for dlq in sorted(set(DEAD_LETTERS.values())):
        alarms = [
            name
            for name, r in resources.items()
            if r["Type"] == "AWS::CloudWatch::Alarm"
            and any(json.dumps(d.get("Value")) == json.dumps({"Fn::GetAtt": [dlq, "QueueName"]}) for d in r["Properties"].get("Dimensions", []))
        ]
        f.check(f"an alarm watches {dlq}", bool(alarms))


def rehearse(sam, parameters=PARAMETERS):
    f = Failures()
    cfn = transformed(sam, parameters)
    # moto prints and warns about each type it skips (checked in the template instead).
    with mock_aws(), contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_stack(cfn, f, parameters)
    check_template(cfn, f)
    return f.items


# ------------------------------------------------------------------ templates broken on purpose


def function_env(sam, logical):
    return sam["Resources"][logical]["Properties"]["Environment"]["Variables"]


def wrong_dead_letter_target(sam):
    sam["Resources"]["DeliveriesQueue"]["Properties"]["RedrivePolicy"]["deadLetterTargetArn"] = {
        "Fn::GetAtt": ["EventsDeadLetterQueue", "Arn"]
    }


def missing_partial_batch_setting(sam):
    events = sam["Resources"]["OutboundDeliveryFunction"]["Properties"]["Events"]
    del events["Deliveries"]["Properties"]["FunctionResponseTypes"]


def queue_variable_names_the_wrong_queue(sam):
    function_env(sam, "OutboundDeliveryFunction")["HOOKLINE_SLOW_DELIVERIES_QUEUE_URL"] = {"Ref": "DeliveriesQueue"}


def resolver_may_write_everything(sam):
    role = sam["Resources"]["InboundResolverRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    role["Statement"].append({"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"})


def key_without_context(sam):
    policy = sam["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"]
    for st in policy:
        st.pop("Condition", None)


def account_may_grant(sam):
    statements = sam["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements[0]["Action"].append("kms:Create*")


def service_may_use_the_key(sam):
    statements = sam["Resources"]["CredentialsKey"]["Properties"]["KeyPolicy"]["Statement"]
    statements.append({"Sid": "Logs", "Effect": "Allow", "Principal": {"Service": "logs.amazonaws.com"},
                       "Action": "kms:Decrypt", "Resource": "*"})


def no_credentials_key(sam):
    del sam["Resources"]["CredentialsKey"]
    del sam["Resources"]["CredentialsKeyAlias"]
    for logical in ("WebhooksApiFunction", "InboundResolverFunction", "OutboundDeliveryFunction"):
        function_env(sam, logical).pop("HOOKLINE_KMS_KEY_ID")


def resolve_route_unthrottled(sam):
    del sam["Resources"]["HttpApi"]["Properties"]["RouteSettings"]


def access_log_with_path(sam):
    settings = sam["Resources"]["HttpApi"]["Properties"]["AccessLogSettings"]
    settings["Format"] = settings["Format"].replace("$context.routeKey", "$context.path")


BROKEN = [
    (wrong_dead_letter_target, "DeliveriesQueue dead-letters to DeliveriesDeadLetterQueue"),
    (missing_partial_batch_setting, "DeliveriesQueue's event source reports partial batch failures"),
    (queue_variable_names_the_wrong_queue, "OutboundDelivery: HOOKLINE_SLOW_DELIVERIES_QUEUE_URL names SlowDeliveriesQueue"),
    (resolver_may_write_everything, "InboundResolver: DynamoDB actions"),
    (key_without_context, "bound to Hookline's encryption context"),
    (account_may_grant, "the account only administers the key"),
    (service_may_use_the_key, "AWS principals only"),
    (no_credentials_key, "credentials key created"),
    (resolve_route_unthrottled, "the resolve route has its own throttling"),
    (access_log_with_path, "access logs leave out $context.path"),
]


def main():
    path = sys.argv[1] if len(sys.argv) > 1 else "infra/template.yaml"
    with open(path) as f:
        sam = yaml_parse(f.read())
    failures = rehearse(sam)
    if failures:
        print(f"deploy rehearsal of {path}: {len(failures)} check(s) failed", file=sys.stderr)
        for item in failures:
            print(f"  - {item}", file=sys.stderr)
        return 1
    print(f"deploy rehearsal of {path}: the stack was created in moto and every check passed")
    # With OperatorRoleArn set (for `hookline-admin reseal`): that role, and only it, joins.
    operator = "arn:aws:iam::123456789012:role/hookline-operator"
    with_operator = rehearse(sam, {**PARAMETERS, "OperatorRoleArn": operator})
    if with_operator:
        print(f"deploy rehearsal with OperatorRoleArn: {len(with_operator)} check(s) failed", file=sys.stderr)
        for item in with_operator:
            print(f"  - {item}", file=sys.stderr)
        return 1
    print("  with OperatorRoleArn set: the operator role may reseal, and no one else joins")
    missed = []
    for breaker, expected in BROKEN:
        broken = copy.deepcopy(sam)
        breaker(broken)
        found = rehearse(broken)
        caught = [item for item in found if item.startswith(expected) or expected in item]
        if caught:
            print(f"  broken on purpose ({breaker.__name__}): caught by {caught[0]!r}")
        else:
            missed.append(f"{breaker.__name__}: expected a failure of {expected!r}, got {found}")
    if missed:
        print("the rehearsal missed templates broken on purpose:", file=sys.stderr)
        for item in missed:
            print(f"  - {item}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
