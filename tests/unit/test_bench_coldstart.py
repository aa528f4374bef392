"""The pure parts of the cold-start benchmark (bench/coldstart.py): reading -X importtime output."""

from __future__ import annotations

from bench.coldstart import discover, heaviest, lambda_environment, package_of, parse_importtime

IMPORTTIME = """\
import time: self [us] | cumulative | imported package
import time:       120 |        120 |   _io
import time:      5000 |       9000 |     pydantic.main
import time:      4000 |      13000 |   pydantic
import time:      3000 |       3000 |   parley.catalog
import time:      2000 |       2000 |     parley.catalog.extra
import time:       100 |      18100 | handler
something else on stderr
"""


def test_importtime_lines_are_parsed_with_their_depth() -> None:
    parsed = parse_importtime(IMPORTTIME)
    assert parsed[0] == ("_io", 120, 120, 1)
    assert ("pydantic.main", 5000, 9000, 2) in parsed
    assert parsed[-1] == ("handler", 100, 18100, 0)
    assert len(parsed) == 6


def test_heaviest_groups_third_party_by_package_and_ours_by_module_skipping_the_baseline() -> None:
    ranked = heaviest(parse_importtime(IMPORTTIME), already={"_io"}, top=3)
    assert ranked == [
        {"package": "pydantic", "self_ms": 9.0},
        {"package": "parley.catalog", "self_ms": 5.0},
        {"package": "handler", "self_ms": 0.1},
    ]
    assert package_of("aws_lambda_powertools.logging.logger") == "aws_lambda_powertools"
    assert package_of("parley.adapters.tables") == "parley.adapters"


def test_every_function_folder_is_discovered_and_gets_a_lambda_environment() -> None:
    names = discover()
    assert {"api", "broadcaster", "turns", "ws_authorizer"} <= set(names)
    env = lambda_environment("api", 1024)
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "1024"
    assert env["LAMBDA_TASK_ROOT"].endswith("functions/api")
    assert env["PYTHONPATH"].split(":")[0].endswith("functions/api")


def test_a_first_invocation_counts_only_when_it_took_the_ordinary_path() -> None:
    from bench.coldstart import first_invocation_problem

    allow = {"policyDocument": {"Statement": [{"Effect": "Allow"}]}}
    deny = {"policyDocument": {"Statement": [{"Effect": "Deny"}]}}
    assert first_invocation_problem("ws_authorizer", allow) is None
    assert first_invocation_problem("ws_authorizer", deny) is not None
    assert first_invocation_problem("api", {"statusCode": 201}) is None
    assert first_invocation_problem("api", {"statusCode": 429}) is not None
    assert first_invocation_problem("turns", {"batchItemFailures": []}) is None
    assert first_invocation_problem("turns", {"batchItemFailures": [{"itemIdentifier": "1"}]}) is not None
    assert first_invocation_problem("outbox_sweeper", {"turns_moved": 0}) is None
    assert first_invocation_problem("outbox_sweeper", {"errorMessage": "boom"}) is not None


def test_the_floors_are_measured_from_their_own_folder() -> None:
    from bench.coldstart import FLOORS, first_invocation_problem, folder_of

    floors = discover(FLOORS)
    assert floors == ["floor_0_botocore", "floor_1_pynamodb", "floor_2_pydantic", "floor_3_http"]
    assert folder_of("floor_0_botocore") == FLOORS / "floor_0_botocore"
    assert folder_of("api").name == "api"
    assert lambda_environment("floor_3_http")["LAMBDA_TASK_ROOT"].endswith("bench/floors/floor_3_http")
    assert first_invocation_problem("floor_3_http", {"ok": True}) is None
    assert first_invocation_problem("floor_3_http", {"ok": False}) is not None
