"""Provider configuration (SPEC §2): every mistake is an error diagnostic naming what is wrong,
never a crash; both Atlas auth schemes work."""

from __future__ import annotations

import pytest

from harness import Sandbox, api_key_hcl, assert_not_crashed, terraform_block

BACKENDS = ("atlas", "braintrust", "env0", "traceloop")


def config(sb: Sandbox, provider_body: str) -> str:
    """A provider block with `provider_body` and one Atlas key that makes Terraform configure it."""
    return (terraform_block()
            + f'provider "keysmith" {{\n{provider_body}\n}}\n'
            + api_key_hcl("k", sb.atlas_org_id, "config-check", ["ORG_READ_ONLY"]))


def atlas_block(sb: Sandbox, **attrs: str) -> str:
    """An atlas block with the sandbox's URL and key pair; attrs override (None drops one)."""
    c = sb.atlas_creds
    values = {"base_url": sb.url, "public_key": c["public_key"], "private_key": c["private_key"]}
    values.update(attrs)
    body = "\n".join(f'    {k} = "{v}"' for k, v in values.items() if v is not None)
    return f"  atlas {{\n{body}\n  }}"


def bad_configs(sb: Sandbox) -> dict[str, tuple[str, tuple[str, ...]]]:
    """name -> (provider body, words of which at least one must be in the error)."""
    c = sb.atlas_creds
    return {
        "no backend block": ("  max_retries = 2", BACKENDS),
        "two backend blocks": (atlas_block(sb) + '\n  traceloop {\n    api_key = "tl-key"\n  }',
                               ("atlas", "traceloop")),
        "public_key without private_key": (atlas_block(sb, private_key=None), ("private_key",)),
        "key pair and service account": (
            atlas_block(sb, client_id=c["client_id"], client_secret=c["client_secret"]),
            ("client_id", "client_secret", "public_key")),
        "malformed base_url": (atlas_block(sb, base_url="not a url"), ("base_url",)),
        "base_url without scheme": (atlas_block(sb, base_url="://127.0.0.1:1"), ("base_url",)),
        "request_timeout not a duration": (atlas_block(sb) + '\n  request_timeout = "30 seconds"',
                                           ("request_timeout",)),
    }


CASES = ["no backend block", "two backend blocks", "public_key without private_key",
         "key pair and service account", "malformed base_url", "base_url without scheme",
         "request_timeout not a duration"]


@pytest.mark.parametrize("case", CASES)
def test_misconfiguration_is_a_diagnostic(sandbox, workspace, case):
    body, words = bad_configs(sandbox)[case]
    workspace.write(config(sandbox, body))
    workspace.init()

    result = workspace.plan(rc=1)

    assert "Error: " in result.stderr
    assert any(w in result.stderr for w in words), f"the error names none of {words}:\n{result.stderr}"
    assert_not_crashed(result.stdout, result.stderr)
    assert sandbox.atlas_keys(prefix="config-check") == []


def test_missing_credential_from_environment_is_named(sandbox, workspace):
    # Credentials may come from the environment; a half pair there is the same error.
    workspace.write(config(sandbox, f'  atlas {{\n    base_url = "{sandbox.url}"\n  }}'))
    workspace.init()
    result = workspace.plan(rc=1, env={"MONGODB_ATLAS_PUBLIC_API_KEY": sandbox.atlas_creds["public_key"]})
    assert "private_key" in result.stderr
    assert_not_crashed(result.stdout, result.stderr)


def test_wrong_private_key_is_an_error_from_atlas(sandbox, workspace):
    workspace.write(config(sandbox, atlas_block(sandbox, private_key="not-the-private-key")))
    workspace.init()
    result = workspace.apply(rc=1)
    assert "401" in result.stderr
    assert_not_crashed(result.stdout, result.stderr)
    assert sandbox.atlas_keys(prefix="config-check") == []


def test_service_account_auth_apply_and_destroy(sandbox, workspace):
    sb, ws = sandbox, workspace
    org = sb.atlas_org_id

    # 1. Provider with an OAuth service account (client_id/client_secret), two keys.
    ws.write(terraform_block() + sb.atlas_provider_hcl("oauth")
             + api_key_hcl("a", org, "oauth-a", ["ORG_MEMBER"])
             + api_key_hcl("b", org, "oauth-b", ["ORG_READ_ONLY", "ORG_BILLING_READ_ONLY"]))
    ws.init()
    ws.apply()

    # 2. They exist, with their secrets in state; nothing left to do.
    state = ws.resources()
    assert all(v["secret"] and v["public_key"] for v in state.values())
    assert sorted(k.desc for k in sb.atlas_keys(prefix="oauth-")) == ["oauth-a", "oauth-b"]
    ws.plan(rc=0)

    # 3. Destroy removes them.
    ws.destroy()
    assert sb.atlas_keys(prefix="oauth-") == []
