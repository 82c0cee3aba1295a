"""The egress floor as NetworkPolicies, and the containment of extra egress."""

from __future__ import annotations

import ipaddress

from hypothesis import given
from hypothesis import strategies as st

from souverain.api import CIDRRule, EgressRules, FQDNRule, Port, ProfileEgress
from souverain.reconcile import egress


def rule(cidr: str, *ports: int, excepts: tuple[str, ...] = ()) -> CIDRRule:
    return CIDRRule(cidr=cidr, except_=list(excepts), ports=[Port(port=p) for p in ports])


def test_floor_denies_all_then_allows_dns_namespace_and_lists() -> None:
    profile = ProfileEgress(cidrs=[rule("10.0.0.0/8", 443)])
    extra = EgressRules(cidrs=[rule("10.1.0.0/16", 443)])
    policies = {p["metadata"]["name"]: p for p in egress.egress_floor("t", profile, extra)}
    assert set(policies) == set(egress.POLICY_NAMES)
    assert "egress" not in policies[egress.DENY_ALL]["spec"]
    assert all(p["spec"]["podSelector"] == {} for p in policies.values())
    assert all(p["spec"]["policyTypes"] == ["Egress"] for p in policies.values())
    dns = policies[egress.ALLOW_DNS]["spec"]["egress"][0]
    assert {(p["protocol"], p["port"]) for p in dns["ports"]} == {("UDP", 53), ("TCP", 53)}
    assert policies[egress.ALLOW_NAMESPACE]["spec"]["egress"] == [{"to": [{"podSelector": {}}]}]
    allowed = policies[egress.ALLOW_PROFILE]["spec"]["egress"][0]
    assert allowed == {
        "to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}],
        "ports": [{"protocol": "TCP", "port": 443}],
    }


def test_floor_leaves_out_what_is_empty_or_disallowed() -> None:
    names = {
        p["metadata"]["name"]
        for p in egress.egress_floor("t", ProfileEgress(allow_dns=False), EgressRules())
    }
    assert names == {egress.DENY_ALL, egress.ALLOW_NAMESPACE}


def test_excepts_are_kept_in_the_ip_block() -> None:
    profile = ProfileEgress(cidrs=[rule("10.0.0.0/8", excepts=("10.255.0.0/16",))])
    policy = next(
        p
        for p in egress.egress_floor("t", profile, EgressRules())
        if p["metadata"]["name"] == egress.ALLOW_PROFILE
    )
    assert policy["spec"]["egress"][0]["to"][0]["ipBlock"]["except"] == ["10.255.0.0/16"]


def test_extra_egress_inside_the_profile_is_accepted() -> None:
    profile = ProfileEgress(
        cidrs=[rule("10.0.0.0/8", 443, 5432, excepts=("10.255.0.0/16",))],
        fqdns=[FQDNRule(pattern="*.gouv.fr")],
    )
    extra = EgressRules(
        cidrs=[rule("10.1.0.0/16", 443)],
        fqdns=[FQDNRule(pattern="api.impots.gouv.fr", ports=[Port(port=443)])],
    )
    assert egress.egress_outside_profile(extra, profile) == []


def test_extra_egress_outside_the_profile_is_named() -> None:
    profile = ProfileEgress(
        cidrs=[rule("10.0.0.0/8", 443, excepts=("10.255.0.0/16",))],
        fqdns=[FQDNRule(pattern="*.gouv.fr")],
    )
    extra = EgressRules(
        cidrs=[
            rule("172.16.0.0/12", 443),  # another network
            rule("10.1.0.0/16"),  # every port where the profile allows 443 only
            rule("10.1.0.0/16", 22),  # another port
            rule("10.255.1.0/24", 443),  # inside the excepted block
            rule("10.0.0.0/8", 443),  # the whole network, except block left open
        ],
        fqdns=[FQDNRule(pattern="example.com"), FQDNRule(pattern="gouv.fr")],
    )
    assert egress.egress_outside_profile(extra, profile) == [
        "172.16.0.0/12 ports TCP/443",
        "10.1.0.0/16",
        "10.1.0.0/16 ports TCP/22",
        "10.255.1.0/24 ports TCP/443",
        "10.0.0.0/8 ports TCP/443",
        "example.com",
        "gouv.fr",
    ]


def test_keeping_the_excepted_block_out_makes_a_wide_rule_acceptable() -> None:
    allowed = rule("10.0.0.0/8", excepts=("10.255.0.0/16",))
    assert egress.cidr_rule_within(rule("10.0.0.0/8", excepts=("10.255.0.0/16",)), allowed)
    assert egress.cidr_rule_within(rule("10.0.0.0/8", excepts=("10.254.0.0/15",)), allowed)


def test_port_ranges_must_lie_inside_allowed_ranges() -> None:
    allowed = [Port(port=8000, end_port=8100)]
    assert egress.ports_within([Port(port=8010, end_port=8020)], allowed)
    assert not egress.ports_within([Port(port=7999, end_port=8020)], allowed)
    assert not egress.ports_within([Port(protocol="UDP", port=8010)], allowed)
    assert egress.ports_within([], [])
    assert not egress.ports_within([], allowed)


def test_families_never_contain_each_other() -> None:
    assert not egress.cidr_rule_within(rule("2001:db8::/32"), rule("0.0.0.0/0"))


@given(
    st.ip_addresses(v=4),
    st.integers(min_value=0, max_value=32),
    st.integers(min_value=0, max_value=32),
)
def test_containment_agrees_with_the_networks(
    address: ipaddress.IPv4Address, outer_length: int, inner_length: int
) -> None:
    outer = ipaddress.ip_network(f"{address}/{outer_length}", strict=False)
    inner = ipaddress.ip_network(f"{address}/{inner_length}", strict=False)
    within = egress.cidr_rule_within(rule(str(inner)), rule(str(outer)))
    assert within == inner.subnet_of(outer)


def test_fqdns_are_unenforceable_without_a_plugin_that_supports_them() -> None:
    profile = ProfileEgress(fqdns=[FQDNRule(pattern="*.gouv.fr", ports=[Port(port=443)])])
    assert egress.unenforceable_egress(profile, EgressRules(), fqdns=False) == [
        "fqdn *.gouv.fr ports TCP/443"
    ]
    assert egress.unenforceable_egress(profile, EgressRules(), fqdns=True) == []


def test_cilium_policy_allows_the_names_and_the_dns_lookups() -> None:
    policy = egress.fqdn_policy("t", [FQDNRule(pattern="*.gouv.fr", ports=[Port(port=443)])])
    assert policy is not None
    assert policy["kind"] == "CiliumNetworkPolicy"
    rules = policy["spec"]["egress"]
    assert rules[0]["toPorts"][0]["rules"]["dns"] == [{"matchPattern": "*"}]
    assert rules[1]["toFQDNs"] == [{"matchPattern": "*.gouv.fr"}]
    assert rules[1]["toPorts"][0]["ports"] == [{"port": "443", "protocol": "TCP"}]
    assert egress.fqdn_policy("t", []) is None
