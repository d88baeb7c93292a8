"""The loader on schemas published by other projects (../shared/real-schemas).

Hand-written fixtures only contain the constructs we thought of; these files
contain the ones real projects use (Stripe's anyOf wrappers, FHIR's recursion
through Extension, k8s type lists, validator-only oneOf). Each model must
load, list a known field with the expected kind, and keep its field
listing small enough to review.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from shimgen.schema.loader import load_schema
from shimgen.schema.model import Kind, LoadedSchema, format_path, iter_leaves
from tests.conftest import skip_or_fail

REAL = Path(__file__).resolve().parents[1].parent / "shared" / "real-schemas"

GITHUB = "github-private-user-vs-public-user.openapi.json"
STRIPE = "stripe-customer-charge.openapi.json"
FHIR = "fhir-r4-patient.schema.json"
K8S = "k8s-v1.37-secret.schema.json"
DMCG_RW = "dmcg-read-only-write-only-ref-request-response.openapi.yaml"
DMCG_VALIDATORS = "dmcg-schema-validators.schema.json"
K8S_POD = "k8s-pod-deployment.definitions.json"
WORKFLOW = "schemastore-github-workflow.schema.json"
ADYEN = "adyen-legalentity-v3.openapi.json"
BOX = "box-platform.openapi.json"
POD = "io.k8s.api.core.v1.Pod"
DEPLOYMENT = "io.k8s.api.apps.v1.Deployment"

# (file, model, a leaf path, its kind, nullable, recursive leaf)
CASES: list[tuple[str, str | None, str, Kind, bool, bool]] = [
    (GITHUB, "private-user", "two_factor_authentication", Kind.BOOLEAN, False, False),
    (GITHUB, "private-user", "ldap_dn", Kind.STRING, False, False),
    (GITHUB, "private-user", "plan.private_repos", Kind.INTEGER, False, False),
    (GITHUB, "private-user", "email", Kind.STRING, True, False),
    (GITHUB, "public-user", "login", Kind.STRING, False, False),
    (GITHUB, "public-user", "plan.name", Kind.STRING, False, False),
    (STRIPE, "customer", "address.line1", Kind.STRING, True, False),
    (STRIPE, "customer", "email", Kind.STRING, True, False),
    (STRIPE, "customer", "metadata", Kind.MAP, False, False),
    (STRIPE, "customer", "default_source", Kind.UNION, True, False),
    (STRIPE, "customer", "sources.data", Kind.ARRAY, False, False),
    (STRIPE, "customer", "tax_ids.data[].value", Kind.STRING, False, False),
    (STRIPE, "charge", "billing_details.email", Kind.STRING, True, False),
    (STRIPE, "charge", "fraud_details.user_report", Kind.STRING, False, False),
    (STRIPE, "charge", "customer", Kind.UNION, True, False),
    (STRIPE, "charge", "outcome.risk_score", Kind.INTEGER, False, False),
    (FHIR, "Patient", "birthDate", Kind.STRING, False, False),
    (FHIR, "Patient", "name[].family", Kind.STRING, False, False),
    (FHIR, "Patient", "name[].period.start", Kind.STRING, False, False),
    (FHIR, "Patient", "address[].city", Kind.STRING, False, False),
    (FHIR, "Patient", "telecom[].value", Kind.STRING, False, False),
    (FHIR, "Patient", "managingOrganization.reference", Kind.STRING, False, False),
    (FHIR, "Patient", "extension[].url", Kind.STRING, False, False),
    (FHIR, "Patient", "_birthDate", Kind.OBJECT, False, True),
    (FHIR, "Patient", "name[].extension", Kind.ARRAY, False, True),
    (FHIR, None, "gender", Kind.STRING, False, False),
    (K8S, None, "data", Kind.MAP, True, False),
    (K8S, None, "stringData", Kind.MAP, True, False),
    (K8S, None, "metadata.name", Kind.STRING, True, False),
    (K8S, None, "metadata.ownerReferences[].uid", Kind.STRING, False, False),
    (K8S, "", "apiVersion", Kind.STRING, True, False),
    (DMCG_RW, "RecursiveOnlyReadOnly", "child.id", Kind.INTEGER, False, False),
    (DMCG_RW, "RecursiveOnlyReadOnly", "child.child", Kind.OBJECT, False, True),
    (DMCG_RW, "ParentWithChildList", "children[].name", Kind.STRING, False, False),
    (DMCG_RW, "ParentWithOnlyWriteOnlyChild", "child.secret", Kind.STRING, False, False),
    (DMCG_VALIDATORS, None, "first", Kind.STRING, False, False),
    (DMCG_VALIDATORS, "OneOfContact", "phone", Kind.STRING, False, False),
    (DMCG_VALIDATORS, "ConditionalPayload", "kind", Kind.STRING, False, False),
    (DMCG_VALIDATORS, "ValidatorOnlyChild", "first", Kind.STRING, False, False),
    (K8S_POD, POD, "spec.containers[].env[].value", Kind.STRING, False, False),
    (K8S_POD, POD, "spec.serviceAccountName", Kind.STRING, False, False),
    (K8S_POD, POD, "metadata.labels", Kind.MAP, False, False),
    (K8S_POD, POD, "spec.containers[].ports[].containerPort", Kind.INTEGER, False, False),
    (K8S_POD, DEPLOYMENT, "spec.replicas", Kind.INTEGER, False, False),
    (K8S_POD, DEPLOYMENT, "spec.template.spec.containers[].image", Kind.STRING, False, False),
    (WORKFLOW, None, "on", Kind.UNION, False, False),
    (WORKFLOW, None, "name", Kind.STRING, False, False),
    (WORKFLOW, "normalJob", "runs-on", Kind.UNION, False, False),
    (ADYEN, "LegalEntity", "individual.name.firstName", Kind.STRING, False, False),
    (ADYEN, "LegalEntity", "individual.birthData.dateOfBirth", Kind.STRING, False, False),
    (ADYEN, "LegalEntity", "organization.taxInformation[].number", Kind.STRING, False, False),
    (BOX, "User--Full", "login", Kind.STRING, False, False),
    (BOX, "User--Full", "space_used", Kind.INTEGER, False, False),
    (BOX, "User--Full", "enterprise.name", Kind.STRING, False, False),
    (BOX, "User--Mini", "login", Kind.STRING, False, False),
    (BOX, "File--Full", "shared_link.url", Kind.STRING, False, False),
    (BOX, "File--Full", "size", Kind.INTEGER, False, False),
]

# Upper bounds on the field listing (``shimgen init``) per model; measured
# values are in the comments. FHIR is the one that needs recursion hubs.
LEAF_BUDGET: dict[tuple[str, str | None], int] = {
    (GITHUB, "private-user"): 60,  # 46
    (GITHUB, "public-user"): 60,  # 43
    (STRIPE, "customer"): 200,  # 120
    (STRIPE, "charge"): 200,  # 133
    (FHIR, "Patient"): 3000,  # 1685, 852 of them recursive leaves
    (K8S, None): 50,  # 32
    (DMCG_RW, "RecursiveOnlyReadOnly"): 5,  # 3
    (DMCG_VALIDATORS, None): 5,  # 1
    (K8S_POD, POD): 1500,  # 1002
    (K8S_POD, DEPLOYMENT): 1300,  # 886
    (WORKFLOW, None): 20,  # 9
    (WORKFLOW, "normalJob"): 60,  # 36
    (ADYEN, "LegalEntity"): 300,  # 205
    (BOX, "User--Full"): 60,  # 34
    (BOX, "File--Full"): 200,  # 112
}

_cache: dict[tuple[str, str | None], LoadedSchema] = {}


@pytest.fixture(scope="module")
def real_dir() -> Path:
    if not REAL.is_dir():
        skip_or_fail(f"real schemas not available at {REAL}")
    return REAL


def loaded(real_dir: Path, name: str, model: str | None) -> LoadedSchema:
    key = (name, model)
    if key not in _cache:
        _cache[key] = load_schema(real_dir / name, model)
    return _cache[key]


def test_every_real_schema_has_cases(real_dir: Path) -> None:
    files = {p.name for p in real_dir.iterdir() if p.suffix in (".json", ".yaml", ".yml")}
    assert files == {case[0] for case in CASES}


@pytest.mark.parametrize(("name", "model"), sorted({(c[0], c[1]) for c in CASES}, key=str))
def test_loads(real_dir: Path, name: str, model: str | None) -> None:
    # how fast: bench/generate.py (timed unit tests fail on a loaded machine, prove nothing on an idle one)
    schema = load_schema(real_dir / name, model)
    assert schema.files == (real_dir / name,)
    assert schema.root.kind is Kind.OBJECT


@pytest.mark.parametrize(
    ("name", "model", "path", "kind", "nullable", "recursive"),
    CASES,
    ids=[f"{c[0].split('-')[0]}-{c[1]}-{c[2]}" for c in CASES],
)
def test_known_field(
    real_dir: Path,
    name: str,
    model: str | None,
    path: str,
    kind: Kind,
    nullable: bool,
    recursive: bool,
) -> None:
    schema = loaded(real_dir, name, model)
    found = {format_path(leaf.path): leaf for leaf in iter_leaves(schema.root)}
    assert path in found, f"{path} not among {len(found)} leaves"
    leaf = found[path]
    node = (
        leaf.node.items
        if leaf.node.kind is Kind.ARRAY and recursive and kind is Kind.OBJECT
        else leaf.node
    )
    assert node is not None
    assert node.kind is kind
    assert node.nullable is nullable
    assert leaf.recursive is recursive


@pytest.mark.parametrize(("name", "model"), sorted(LEAF_BUDGET, key=str))
def test_field_listing_stays_reviewable(real_dir: Path, name: str, model: str | None) -> None:
    schema = loaded(real_dir, name, model)
    count = sum(1 for _ in iter_leaves(schema.root))
    assert 0 < count <= LEAF_BUDGET[(name, model)]


def test_stripe_wrappers_keep_the_type_name(real_dir: Path) -> None:
    customer = loaded(real_dir, STRIPE, "customer").root
    address = customer.properties["address"]
    assert (address.kind, address.name, address.nullable) == (Kind.OBJECT, "address", True)
    assert address.description == "The customer's address."
    stub = customer.properties["discount"].properties["coupon"]  # x-extract-stub
    assert stub.kind is Kind.MAP


def test_fhir_recursion_through_extension_is_a_cycle(real_dir: Path) -> None:
    patient = loaded(real_dir, FHIR, "Patient").root
    extension = patient.properties["extension"].items
    assert extension is not None and extension.name == "Extension"
    inner = extension.properties["extension"].items
    assert inner is extension


def test_dmcg_read_only_recursion(real_dir: Path) -> None:
    root = loaded(real_dir, DMCG_RW, "RecursiveOnlyReadOnly").root
    child = root.properties["child"]
    assert child.read_only and child.name == "RecursiveOnlyReadOnly"
    assert child.properties["child"] is child
    assert root.properties["id"].read_only


def test_dmcg_pattern_bag_is_a_map(real_dir: Path) -> None:
    bag = load_schema(real_dir / DMCG_VALIDATORS, "DirectPatternBag").root
    assert bag.kind is Kind.MAP and bag.values is not None and bag.values.kind is Kind.INTEGER
