"""What every reference service needs: settings, storage, the demo world, the PKI, the URLs.

`build_context` prepares a run's data folder: the reference database, the demo PKI, the
operators' storage keys, and the demo world seeded on first use.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, sessionmaker

from utskick.mm.devca import write_private_file
from utskick.mm.private_files import private_folder, tighten_tree
from utskick.reference.cache import STAMP_FILE, ChangeStamp, watch_changes
from utskick.reference.diarium.wire import REGISTRATION_PATH
from utskick.reference.far.registry import FarRegistry
from utskick.reference.pki import DemoPki, ensure_demo_pki
from utskick.reference.settings import ReferenceSettings
from utskick.reference.store import (
    FarAccount,
    FarSenderOptOut,
    MailboxAccount,
    MailboxCompanyAdministrator,
    MailboxDelegation,
    PopulationCompany,
    PopulationPerson,
    create_reference_engine,
    create_schema,
    sessions,
)
from utskick.reference.world import DEMO_WORLD, Company, Organisation, Person, World

STORAGE_KEY_BYTES = 32


@dataclass(frozen=True)
class OperatorEndpoints:
    """Where one mailbox operator answers."""

    service_url: str  # Service v3 (HTTPS, mutual TLS): FaR's ServiceAdress
    ui_url: str  # the citizen mailbox (HTTP on loopback)


@dataclass(frozen=True)
class Endpoints:
    """Every URL of the reference infrastructure."""

    far_url: str
    population_url: str
    sink_page_url: str
    operators: dict[str, OperatorEndpoints]  # by operator key ("syd", "nord")
    diarium_url: str  # the stand-in's registration endpoint (signed JSON, HTTP on loopback)
    diarium_page_url: str  # its page of registered letters


@dataclass(frozen=True)
class ReferenceContext:
    """Everything the reference services share in one process."""

    settings: ReferenceSettings
    engine: Engine
    sessions: sessionmaker[Session]
    world: World
    pki: DemoPki
    registry: FarRegistry
    endpoints: Endpoints
    storage_keys: dict[str, bytes]  # operator key → AES-256 key for messages at rest
    # Moves when what the operators cache changes (see `cache.watch_changes`); one made by
    # hand, not watching any sessions, leaves the operators' caches to their time limit.
    changes: ChangeStamp = field(default_factory=ChangeStamp)

    def operator(self, key: str) -> Organisation:
        """The operator with this short name."""
        return self.world.operator(key)


def endpoints_for(settings: ReferenceSettings, world: World) -> Endpoints:
    """The URLs the services get from the settings' host and ports."""
    host = settings.host
    return Endpoints(
        far_url=f"https://{host}:{settings.far_port}/far",
        population_url=f"https://{host}:{settings.population_port}/",
        sink_page_url=f"http://{host}:{settings.sink_page_port}/",
        operators={
            operator.operator_key: OperatorEndpoints(
                service_url=f"https://{host}:{settings.service_port(operator.operator_key)}"
                "/service/v3",
                ui_url=f"http://{host}:{settings.ui_port(operator.operator_key)}/",
            )
            for operator in world.operators
            if operator.operator_key
        },
        diarium_url=f"http://{host}:{settings.diarium_port}{REGISTRATION_PATH}",
        diarium_page_url=f"http://{host}:{settings.diarium_port}/",
    )


def build_context(settings: ReferenceSettings, world: World = DEMO_WORLD) -> ReferenceContext:
    """Prepare the data folder (database, PKI, keys), seed the world once, return the context."""
    # The folder and everything in it are the owner's alone (0700, files 0600); what an
    # older version left readable by others is tightened, and the log says so.
    private_folder(settings.home)
    tighten_tree(settings.home / "pki")
    tighten_tree(settings.home / "reference-keys")
    engine = create_reference_engine(settings.resolved_database_url())
    create_schema(engine)
    context = _context(settings, world, engine)
    register_organisations(context.registry, world, context.pki, context.endpoints)
    seed_world_once(context.sessions, context.registry, world)
    return context


def open_context(settings: ReferenceSettings, world: World = DEMO_WORLD) -> ReferenceContext:
    """The context of a data folder that `build_context` prepared, changing nothing in it.

    For the reference's own child processes: the parent prepared the folder and seeded the
    world; each child opens the same database, PKI and keys.
    """
    return _context(settings, world, create_reference_engine(settings.resolved_database_url()))


def _context(settings: ReferenceSettings, world: World, engine: Engine) -> ReferenceContext:
    session_maker = sessions(engine)
    changes = ChangeStamp(settings.home / STAMP_FILE)
    watch_changes(session_maker, changes)
    pki = ensure_demo_pki(settings.home / "pki", world)
    keys = {
        operator.operator_key: _storage_key(settings, operator.operator_key)
        for operator in world.operators
        if operator.operator_key
    }
    return ReferenceContext(
        settings,
        engine,
        session_maker,
        world,
        pki,
        FarRegistry(session_maker),
        endpoints_for(settings, world),
        keys,
        changes,
    )


def register_organisations(
    registry: FarRegistry, world: World, pki: DemoPki, endpoints: Endpoints
) -> None:
    """Put the organisations, their roles, addresses and certificates in FaR.

    Done on every start: the ports, and so the service addresses, may have changed.
    """
    for organisation in world.organisations:
        operator = endpoints.operators.get(organisation.operator_key or "")
        registry.add_organisation(
            organisation.number,
            organisation.name,
            sender=organisation.sender,
            intermediary=organisation.intermediary,
            operator=organisation.operator,
            service_address=operator.service_url if operator else None,
            ui_address=operator.ui_url if operator else None,
        )
        registry.add_certificate(organisation.number, pki.certificates[organisation.number])


def seed_world_once(
    session_maker: sessionmaker[Session], registry: FarRegistry, world: World
) -> None:
    """Seed persons, companies, accounts and mailboxes, unless an earlier run already did."""
    with session_maker() as session:
        if session.scalar(select(PopulationPerson.id).limit(1)) is not None:
            return
    for person in world.persons:
        if person.protected:
            registry.mark_protected(person.id)
    with session_maker.begin() as session:
        for person in world.persons:
            _seed_person(session, person)
        session.flush()  # the accounts exist before their opt-outs refer to them
        for person in world.persons:
            for sender in person.opted_out_of:
                session.add(FarSenderOptOut(recipient_id=person.id, sender_number=sender))
        for company in world.companies:
            _seed_company(session, company)
        for owner, delegate in world.delegations:
            operator = world.person(owner).mailbox_at
            if operator is not None:
                session.add(
                    MailboxDelegation(
                        operator_number=operator, owner_id=owner, delegate_id=delegate
                    )
                )


def _seed_person(session: Session, person: Person) -> None:
    address = person.address
    session.add(
        PopulationPerson(
            id=person.id,
            given_name=person.given_name,
            surname=person.surname,
            care_of=address.care_of if address else None,
            street=address.street if address else None,
            postal_code=address.postal_code if address else None,
            city=address.city if address else None,
            protected=person.protected,
            deceased_on=person.deceased_on,
            emigrated_on=person.emigrated_on,
        )
    )
    if person.mailbox_at is None:
        return
    session.add(
        FarAccount(
            recipient_id=person.id,
            operator_number=person.mailbox_at,
            account_type="Secure",
            pending=person.pending,
        )
    )
    session.add(
        MailboxAccount(
            operator_number=person.mailbox_at,
            owner_id=person.id,
            kind="person",
            name=person.name,
            email=person.email,
            phone=person.phone,
            active=not person.pending,
        )
    )


def _seed_company(session: Session, company: Company) -> None:
    session.add(
        PopulationCompany(
            number=company.number,
            name=company.name,
            street=company.address.street,
            postal_code=company.address.postal_code,
            city=company.address.city,
            signatories=",".join(company.signatories),
        )
    )
    if company.mailbox_at is None:
        return
    session.add(
        FarAccount(
            recipient_id=company.recipient_id,
            operator_number=company.mailbox_at,
            account_type="Secure",
            pending=False,
        )
    )
    session.add(
        MailboxAccount(
            operator_number=company.mailbox_at,
            owner_id=company.recipient_id,
            kind="company",
            name=company.name,
        )
    )
    for signatory in company.signatories:
        session.add(
            MailboxCompanyAdministrator(
                operator_number=company.mailbox_at,
                company_id=company.recipient_id,
                person_id=signatory,
            )
        )


def _storage_key(settings: ReferenceSettings, operator_key: str) -> bytes:
    """The operator's key for messages at rest: from settings, else generated once (demo)."""
    configured = settings.storage_key(operator_key)
    if configured is not None:
        key = base64.b64decode(configured.get_secret_value())
        if len(key) != STORAGE_KEY_BYTES:
            raise ValueError(
                f"UTSKICK_REFERENCE_{operator_key.upper()}_STORAGE_KEY ska vara base64 av "
                f"{STORAGE_KEY_BYTES} byte (fick {len(key)})"
            )
        return key
    path = settings.home / "reference-keys" / f"{operator_key}.key"
    if not path.exists():
        write_private_file(path, base64.b64encode(secrets.token_bytes(STORAGE_KEY_BYTES)))
    return base64.b64decode(path.read_bytes())
