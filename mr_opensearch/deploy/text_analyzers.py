"""The analyzer of the BM25 text fields (``title`` and any ``--text-field``) of a deployed index.

mros indexes the text fields with one of OpenSearch's built-in analyzers, ``english`` by default: the
standard tokenizer, lower-casing, English possessives, stop words and the Porter stemmer, so a query for
"drills" finds "Drill" and "Cordless Drill Kit". On the shared Home Depot data that raised BM25's
nDCG@10 from 0.325 (``standard``) to 0.357 on the validation split, and the hybrid's from 0.379 to 0.392
(``benchmarks/bm25_analyzers.py``, docs/benchmarks.md). Catalogs in other languages pick their language's
analyzer (``mros deploy --text-analyzer french``); ``standard`` is the analyzer of a plain ``text`` field.

The analyzer is part of an index's identity: it is in the manifest (``text_analyzer``) and in the index
name, so changing it deploys a new index, and the same deploy twice still writes nothing.
"""

from __future__ import annotations

from mr_opensearch.core.errors import UsageError

DEFAULT = "english"
# OpenSearch's built-in analyzers (analysis-common): the generic ones and the language analyzers
GENERIC = ("standard", "simple", "whitespace", "stop", "keyword", "fingerprint")
LANGUAGES = ("arabic", "armenian", "basque", "bengali", "brazilian", "bulgarian", "catalan", "cjk", "czech", "danish",
             "dutch", "english", "estonian", "finnish", "french", "galician", "german", "greek", "hindi", "hungarian",
             "indonesian", "irish", "italian", "latvian", "lithuanian", "norwegian", "persian", "portuguese",
             "romanian", "russian", "sorani", "spanish", "swedish", "thai", "turkish")
BUILT_IN = GENERIC + LANGUAGES


def check_text_analyzer(name: str) -> str:
    """``name`` when it is one of OpenSearch's built-in analyzers; a usage error (exit 2) otherwise."""
    if name not in BUILT_IN:
        raise UsageError(f"unknown text analyzer {name!r}",
                         f"choose one of OpenSearch's built-in analyzers: {', '.join(BUILT_IN)}",
                         parameters="text_analyzer")
    return name


def text_field_mapping(analyzer: str) -> dict[str, str]:
    """The mapping of one BM25 text field analysed with ``analyzer`` (as ``title`` in the index template)."""
    return {"type": "text", "analyzer": check_text_analyzer(analyzer)}
