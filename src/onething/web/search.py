"""Find one-things by what people type: "开办餐饮店", "open-restaurant", "想开个小饭馆".

A deliberately small ranker until ``onething.assist`` owns intent matching: each thing gets weighted terms
from its code, name, keywords, description, stage, procedure and result names; the query is cut into words
with jieba (search mode, so "餐饮店" also yields "餐饮"); a thing scores the weights of the words it shares
with the query. Words that carry no meaning in a request ("想", "我要", "怎么办") are dropped. The thing's
``keywords`` in the catalog are where colloquial names belong (饭馆, 小吃店): adding one there is how a
catalog author teaches search a new phrase — no synonym table hides in code.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass

import jieba

from onething.catalog.model import Catalog, Thing

# Words of a request rather than of a service: the query "我想办理一下开饭店的手续" keeps 饭店 and 开.
STOP_WORDS = frozenset((
    "我", "我们", "想", "想要", "想开", "要", "需要", "一家", "一间", "打算", "准备", "如何", "怎么", "怎样", "怎么办",
    "怎么样", "哪里", "什么", "一下", "一个", "个", "的", "了", "吗", "呢", "啊", "和", "与", "及", "或", "在",
    "去", "给", "帮", "请", "请问", "可以", "能", "能否", "是否", "手续", "流程", "办理", "办", "事", "事情", "一件",
    "一件事", "相关",
))
_LATIN = re.compile(r"[a-z0-9]+")

# Weight of a match in each part of a thing (a name match outranks a mention in a procedure).
WEIGHTS = {"code": 5.0, "name": 4.0, "keywords": 4.0, "stage": 1.5, "description": 1.5, "procedures": 1.0}

_tokenizer_lock = threading.Lock()
_tokenizer: jieba.Tokenizer | None = None


def _jieba() -> jieba.Tokenizer:
    global _tokenizer
    with _tokenizer_lock:
        if _tokenizer is None:
            jieba.setLogLevel(logging.WARNING)
            tokenizer = jieba.Tokenizer()
            tokenizer.initialize()
            _tokenizer = tokenizer
        return _tokenizer


def words(text: str) -> list[str]:
    """Meaningful words of ``text``: jieba's search-mode cut, lower-cased, stop words and punctuation out."""
    text = text.lower().strip()
    out: list[str] = []
    for token in _jieba().cut_for_search(text):
        token = token.strip()
        if not token or token in STOP_WORDS or not any(ch.isalnum() for ch in token):
            continue
        out.append(token)
    return out


@dataclass(frozen=True)
class IndexedThing:
    code: str
    terms: dict[str, float]  # word → best weight of any part it occurs in
    texts: tuple[tuple[str, float], ...]  # whole texts, for substring matches of a longer query


def _parts(catalog: Catalog, thing: Thing) -> Iterable[tuple[str, str]]:
    yield "code", thing.code.replace("-", " ")
    yield "name", thing.name
    for keyword in thing.keywords:
        yield "keywords", keyword
    yield "stage", thing.stage
    if thing.description:
        yield "description", thing.description
    for use in thing.procedures:
        procedure = catalog.procedures.get(use.id)
        if procedure is None:
            continue
        yield "procedures", procedure.name
        if procedure.result is not None:
            yield "procedures", procedure.result.name


class ThingIndex:
    """Search terms of every thing in one catalog, built once (jieba's dictionary loads on first use)."""

    def __init__(self, catalog: Catalog) -> None:
        self._catalog = catalog
        self._entries: list[IndexedThing] | None = None
        self._lock = threading.Lock()

    def _build(self) -> list[IndexedThing]:
        with self._lock:
            if self._entries is None:
                entries = []
                for thing in self._catalog.things.values():
                    terms: dict[str, float] = {}
                    texts = []
                    for part, text in _parts(self._catalog, thing):
                        weight = WEIGHTS[part]
                        texts.append((text.lower(), weight))
                        for word in words(text):
                            terms[word] = max(terms.get(word, 0.0), weight)
                    entries.append(IndexedThing(thing.code, terms, tuple(texts)))
                self._entries = entries
            return self._entries

    def warm(self) -> None:
        self._build()

    def scores(self, query: str) -> dict[str, float]:
        """Thing code → relevance (> 0) for every thing that matches ``query``."""
        query = query.strip().lower()
        if not query:
            return {}
        query_words = words(query) or [query]
        results: dict[str, float] = {}
        for entry in self._build():
            score = 0.0
            for text, weight in entry.texts:
                if query in text:  # the whole query appears: "餐饮", "open-restaurant"
                    score += 2 * weight
            for word in set(query_words):
                weight = entry.terms.get(word, 0.0)
                if weight and (len(word) > 1 or _LATIN.fullmatch(word) or len(query_words) == 1):
                    score += weight
            if query.replace("-", " ") == entry.code.replace("-", " "):
                score += 10 * WEIGHTS["code"]
            if score > 0:
                results[entry.code] = score
        return results
