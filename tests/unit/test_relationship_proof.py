"""What the shared records must say before someone may act for a minor child or a deceased relative
(exchange.relations.relationship_holds, pure): each missing or mismatching fact is named."""

from __future__ import annotations

from datetime import date

import pytest
from stdnum.cn import ric

from onething.exchange.errors import InvalidRequest
from onething.exchange.relations import birth_date_of, relationship_holds


def rid(body: str) -> str:
    return body + ric.calc_check_digit(body + "0")


MOTHER, FATHER, CHILD = rid("11010119900101002"), rid("11010119880202001"), rid("11010120261110001")
DECEASED = rid("11010119560101001")
TODAY = date(2026, 12, 2)
BIRTH = {"child_name": "王小宝", "child_birth_date": "2026-11-10", "mother_id_number": MOTHER,
         "father_id_number": FATHER}
DEATH = {"deceased_name": "张大山", "deceased_id_number": DECEASED}


def guardian(actor: str, records: dict, principal: str = CHILD, name: str = "王小宝",
             today: date = TODAY) -> str | None:
    return relationship_holds("guardian", actor_id_number=actor, principal_id_number=principal,
                              principal_name=name, records=records, today=today)


def kin(records: dict, principal: str = DECEASED, name: str = "张大山") -> str | None:
    return relationship_holds("next_of_kin", actor_id_number=MOTHER, principal_id_number=principal,
                              principal_name=name, records=records, today=TODAY)


def test_birth_date_comes_from_the_resident_id() -> None:
    assert birth_date_of(CHILD) == date(2026, 11, 10)
    assert birth_date_of("123") is None


def test_either_parent_named_on_the_birth_record_is_a_guardian() -> None:
    records = {"birth_medical_certificate": BIRTH}
    assert guardian(MOTHER, records) is None
    assert guardian(FATHER, records) is None


@pytest.mark.parametrize(("actor", "records", "principal", "name", "today", "says"), [
    (MOTHER, {}, CHILD, "王小宝", TODAY, "未查到"),
    (DECEASED, {"birth_medical_certificate": BIRTH}, CHILD, "王小宝", TODAY, "父母不是您"),
    (MOTHER, {"birth_medical_certificate": BIRTH}, rid("11010120261111001"), "王小宝", TODAY, "出生日期"),
    (MOTHER, {"birth_medical_certificate": BIRTH}, CHILD, "王大宝", TODAY, "姓名"),
    (MOTHER, {"birth_medical_certificate": BIRTH}, CHILD, "王小宝", date(2044, 11, 10), "已成年"),
])
def test_guardian_refusals_name_the_fact(actor: str, records: dict, principal: str, name: str, today: date,
                                         says: str) -> None:
    reason = guardian(actor, records, principal, name, today)
    assert reason is not None and says in reason


def test_next_of_kin_needs_the_death_record_and_a_relation() -> None:
    assert kin({"medical_death_certificate": DEATH, "kinship_relation": {"relation_to_deceased": "child"}}) is None
    assert kin({"medical_death_certificate": DEATH,
                "marriage_registration": {"spouse_id_number": DECEASED}}) is None
    assert "死亡医学证明" in (kin({"kinship_relation": {"relation_to_deceased": "child"}}) or "")
    assert "亲属关系" in (kin({"medical_death_certificate": DEATH}) or "")
    assert "亲属关系" in (kin({"medical_death_certificate": DEATH,
                             "marriage_registration": {"spouse_id_number": FATHER}}) or "")
    assert "姓名" in (kin({"medical_death_certificate": DEATH, "kinship_relation": {"relation_to_deceased": "child"}},
                        name="张小山") or "")
    other = rid("11010119570101001")
    assert "死亡医学证明" in (kin({"medical_death_certificate": DEATH,
                                 "kinship_relation": {"relation_to_deceased": "child"}}, principal=other) or "")


def test_other_kinds_are_not_proven_from_data() -> None:
    with pytest.raises(InvalidRequest):
        relationship_holds("helper", actor_id_number=MOTHER, principal_id_number=DECEASED, principal_name="x",
                           records={}, today=TODAY)
