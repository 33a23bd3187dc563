"""Delegations demo (代办授权): 张三 proves from the demo registries — with his consent, every read on his data-use
page — that he is next of kin of his late father 张建国, so the 个人身后 things can be done in his father's
name; and the demo restaurant authorises 张三 as its 经办人 for 开办餐饮店 for a year. Through the services,
idempotent (nothing is added when the delegations exist)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from onething.accounts.errors import UnknownUser
from onething.accounts.service import actor_for_user
from onething.catalog.service import active_catalog
from onething.db import session_scope
from onething.delegations.errors import InvalidDelegation
from onething.delegations.service import claim, grant
from onething.delegations.tables import DelegationRow
from onething.exchange.demo import FATHER, ZHANGSAN


def load_delegations_demo(engine: Engine) -> list[str]:
    _, catalog = active_catalog(engine)
    now = datetime.now(UTC)
    with session_scope(engine) as session:
        try:
            zhangsan = actor_for_user(session, "zhangsan")
            restaurant = actor_for_user(session, "demo-restaurant")
        except UnknownUser:
            return []
        existing = session.scalar(select(DelegationRow.id).where(DelegationRow.agent_id_number == ZHANGSAN))
    if existing is not None:
        return []
    lines = []
    try:
        kin = claim(engine, zhangsan, catalog, kind="next_of_kin", principal_id_number=FATHER,
                    principal_name="张建国", things=None, valid_until=now + timedelta(days=180), now=now,
                    consent=True)
        lines.append(f"delegations: zhangsan is next of kin of 张建国 ({kin.basis.value}, {kin.status.value})")
    except InvalidDelegation as exc:
        lines.append(f"delegations: next of kin not proven: {exc}")
    if "open-restaurant" in catalog.things:
        grant(engine, restaurant, catalog, agent_id_number=ZHANGSAN, agent_name="张三", things=["open-restaurant"],
              valid_until=now + timedelta(days=365), now=now)
        lines.append("delegations: demo-restaurant authorised zhangsan as 经办人 for open-restaurant")
    return lines
