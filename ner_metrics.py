# coding=utf-8
"""Entity-level NER evaluation that reads tags the way conlleval does.

An entity (a "chunk") is a maximal run of tokens of one type, read with the
CoNLL-2000 `conlleval` rules, which `seqeval` follows in its default mode.
Those rules take B-/I-/E-/S-/O tags from any of the IOB1, IOB2 (BIO) and
IOBES (BIOES) schemes alike and repair ill-formed input the same way every
time (an I-PER after O starts an entity, a change of type ends one), so
evaluation never depends on the model emitting well-formed sequences.

A tag is 'O' or PREFIX-TYPE (e.g. 'B-PER'); a bare prefix ('B', 'I') has the
empty type ''. Entities are (type, start, end) with `end` inclusive.

Pure Python, no TensorFlow: the NER script calls it on decoded predictions.
"""

from __future__ import absolute_import
from __future__ import division
from __future__ import print_function

import collections

_SCHEMES = {
    "IOB1": "IOB1",
    "IOB2": "IOB2",
    "BIO": "IOB2",
    "IOBES": "IOBES",
    "BIOES": "IOBES",
}

# Prefixes each scheme may use besides the bare 'O'.
_PREFIXES = {
    "IOB1": ("B", "I"),
    "IOB2": ("B", "I"),
    "IOBES": ("B", "I", "E", "S"),
}


def _canonical_scheme(scheme):
  """Maps a scheme name or alias to 'IOB1', 'IOB2' or 'IOBES'."""
  try:
    return _SCHEMES[str(scheme).upper()]
  except KeyError:
    raise ValueError("unknown tagging scheme %r; expected one of %s" %
                     (scheme, ", ".join(sorted(_SCHEMES))))


def split_tag(tag):
  """Splits 'B-PER' into ('B', 'PER'); 'O' into ('O', ''); 'B' into ('B', '').

  As in conlleval, only the first '-' separates, so types may hold hyphens.
  """
  prefix, _, type_ = tag.partition("-")
  return prefix, type_


def _ends_before(prev, cur):
  """True if an entity holding token `prev` ends before token `cur`.

  Args:
    prev, cur: (prefix, type) pairs of two neighbouring tokens.
  """
  (prev_prefix, prev_type), (prefix, type_) = prev, cur
  if prev_prefix == "O":
    return False
  if prev_prefix in ("E", "S") or prev_type != type_:
    return True
  # B and I continue only into I or E of the same type.
  return prev_prefix in ("B", "I") and prefix in ("B", "S", "O")


def _starts_at(prev, cur):
  """True if a new entity starts at token `cur` after token `prev`."""
  (prev_prefix, prev_type), (prefix, type_) = prev, cur
  if prefix == "O":
    return False
  if prefix in ("B", "S") or prev_type != type_:
    return True
  # An inside or end tag with nothing open before it opens an entity.
  return prefix in ("I", "E") and prev_prefix in ("E", "S", "O")


def get_entities(tags, scheme="IOB2"):
  """Reads the entities of one tag sequence with conlleval's rules.

  Args:
    tags: list of T tag strings, e.g. ['B-PER', 'I-PER', 'O'].
    scheme: 'IOB1', 'IOB2'/'BIO' or 'IOBES'/'BIOES'. conlleval's rules read
      every scheme alike, so the name is only checked; use `validate_tags`
      to find ill-formed sequences.

  Returns:
    List of (type, start, end) tuples, `end` inclusive, in order.
  """
  _canonical_scheme(scheme)
  entities = []
  prev = ("O", "")
  start = 0
  # A trailing 'O' closes an entity that runs to the end of the sentence.
  for i, tag in enumerate(list(tags) + ["O"]):
    cur = split_tag(tag)
    if _ends_before(prev, cur):
      entities.append((prev[1], start, i - 1))
    if _starts_at(prev, cur):
      start = i
    prev = cur
  return entities


def _prf(n_correct, n_pred, n_true):
  """Precision, recall, F1 from counts, with 0 for any 0 / 0."""
  precision = n_correct / n_pred if n_pred else 0.0
  recall = n_correct / n_true if n_true else 0.0
  denom = precision + recall
  f1 = 2. * precision * recall / denom if denom else 0.0
  return precision, recall, f1


def _row(n_correct, n_pred, n_true):
  precision, recall, f1 = _prf(n_correct, n_pred, n_true)
  return {"precision": precision, "recall": recall, "f1": f1,
          "support": n_true, "n_true": n_true, "n_pred": n_pred,
          "n_correct": n_correct}


def _mean_row(rows, weights):
  """Averages the P/R/F1 of `rows` with `weights` (all 0 gives 0)."""
  total = float(sum(weights))
  out = {}
  for key in ("precision", "recall", "f1"):
    out[key] = (sum(r[key] * w for r, w in zip(rows, weights)) / total
                if total else 0.0)
  for key in ("support", "n_true", "n_pred", "n_correct"):
    out[key] = sum(r[key] for r in rows)
  return out


def entity_scores(true_seqs, pred_seqs, scheme="IOB2"):
  """Entity-level precision, recall and F1 per type and averaged.

  An entity counts as correct only if type, start and end all match.

  Args:
    true_seqs: list of N sentences, each a list of gold tags.
    pred_seqs: list of N sentences of predicted tags, lengths as `true_seqs`.
    scheme: tagging scheme name, as in `get_entities`.

  Returns:
    dict with
      'per_type': {type: row} for every type seen in gold or predictions,
      'micro': row over all entities pooled (conlleval's overall numbers),
      'macro': row with the unweighted mean over types,
      'weighted': row with the mean over types weighted by support,
    where a row is a dict of 'precision', 'recall', 'f1', 'support' and the
    counts 'n_true', 'n_pred', 'n_correct' ('support' equals 'n_true').

  Raises:
    ValueError: if the sentence counts or lengths differ.
  """
  if len(true_seqs) != len(pred_seqs):
    raise ValueError("%d gold sentences but %d predicted" %
                     (len(true_seqs), len(pred_seqs)))
  gold, pred = set(), set()
  for n, (true_tags, pred_tags) in enumerate(zip(true_seqs, pred_seqs)):
    if len(true_tags) != len(pred_tags):
      raise ValueError("sentence %d has %d gold tags but %d predicted" %
                       (n, len(true_tags), len(pred_tags)))
    gold.update((n,) + e for e in get_entities(true_tags, scheme))
    pred.update((n,) + e for e in get_entities(pred_tags, scheme))
  correct = gold & pred

  def count_by_type(entities):
    return collections.Counter(e[1] for e in entities)

  n_true, n_pred, n_correct = (count_by_type(x) for x in (gold, pred, correct))
  types = sorted(set(n_true) | set(n_pred))
  per_type = collections.OrderedDict(
      (t, _row(n_correct[t], n_pred[t], n_true[t])) for t in types)
  rows = list(per_type.values())
  return {
      "per_type": per_type,
      "micro": _row(len(correct), len(pred), len(gold)),
      "macro": _mean_row(rows, [1] * len(rows)),
      "weighted": _mean_row(rows, [r["n_true"] for r in rows]),
  }


def format_report(scores, digits=4):
  """Renders `entity_scores` output as an aligned text table.

  Args:
    scores: dict returned by `entity_scores`.
    digits: decimals shown for precision, recall and F1.

  Returns:
    Multi-line string: one row per entity type, then micro, macro and
    weighted average rows.
  """
  names = [t or "<no type>" for t in scores["per_type"]]
  averages = ["micro avg", "macro avg", "weighted avg"]
  width = max([len(n) for n in names + averages] + [len("type")])
  col = max(digits + 2, len("precision"))
  header = "%*s  %*s  %*s  %*s  %*s" % (
      width, "type", col, "precision", col, "recall", col, "f1-score", col,
      "support")

  def line(name, row):
    values = ["%*.*f" % (col, digits, row[k])
              for k in ("precision", "recall", "f1")]
    return "%*s  %s  %*d" % (width, name, "  ".join(values), col,
                             row["support"])

  lines = [header, ""]
  lines += [line(n, r) for n, r in zip(names, scores["per_type"].values())]
  lines.append("")
  for name, key in zip(averages, ("micro", "macro", "weighted")):
    lines.append(line(name, scores[key]))
  return "\n".join(lines) + "\n"


def _bad_before(prefix, type_, prev, scheme):
  """Why token (prefix, type_) may not follow `prev`, or None if it may."""
  prev_prefix, prev_type = prev
  continues = prev_prefix in ("B", "I") and prev_type == type_
  if scheme == "IOB1":
    # IOB1 uses B only to split two touching entities of one type.
    if prefix == "B" and not (prev_prefix != "O" and prev_type == type_):
      return "B-%s must follow a %s entity in IOB1" % (type_, type_)
    return None
  if scheme == "IOB2" and prefix == "I" and not continues:
    return "I-%s must follow B-%s or I-%s" % (type_, type_, type_)
  if scheme == "IOBES" and prefix in ("I", "E") and not continues:
    return "%s-%s must follow B-%s or I-%s" % (prefix, type_, type_, type_)
  return None


def validate_tags(tags, scheme="IOB2"):
  """Finds the first place where `tags` breaks the rules of `scheme`.

  Args:
    tags: list of T tag strings.
    scheme: 'IOB1', 'IOB2'/'BIO' or 'IOBES'/'BIOES'.

  Returns:
    None if the sequence is well formed, else (index, reason) for the first
    bad tag, `reason` a short readable sentence.
  """
  scheme = _canonical_scheme(scheme)
  prev = ("O", "")
  for i, tag in enumerate(tags):
    prefix, type_ = split_tag(tag)
    if tag != "O" and prefix not in _PREFIXES[scheme]:
      return i, "unknown tag %r for scheme %s" % (tag, scheme)
    reason = _bad_before(prefix, type_, prev, scheme)
    if reason:
      return i, "%s, got %r after %r" % (reason, tag,
                                         tags[i - 1] if i else "<start>")
    if scheme == "IOBES" and prefix in ("B", "I"):
      # IOBES closes every entity with E or S, so B and I need a successor.
      nxt = tags[i + 1] if i + 1 < len(tags) else None
      nxt_prefix, nxt_type = split_tag(nxt or "O")
      if nxt_prefix not in ("I", "E") or nxt_type != type_:
        return i, "%s must be followed by I-%s or E-%s, got %s" % (
            tag, type_, type_, "<end>" if nxt is None else repr(nxt))
    prev = (prefix, type_)
  return None


def allowed_transitions(labels, scheme="IOB2"):
  """Which tag paths `scheme` allows, as start / transition / end masks.

  Every rule of `validate_tags` links only neighbouring tags, so a path
  t_0 .. t_{T-1} passes `validate_tags` exactly when start[t_0], every
  transitions[t_{i-1}][t_i] and end[t_{T-1}] are True. Constrained decoding
  (run_ner.py's --constrained_decoding) runs Viterbi with the False entries
  masked, so it never emits a path the scheme forbids. A label whose prefix
  the scheme does not use (e.g. E-PER under IOB2) is never allowed.

  Args:
    labels: list of C tag strings (id = position), e.g. LabelMap.labels.
    scheme: 'IOB1', 'IOB2'/'BIO' or 'IOBES'/'BIOES'.

  Returns:
    (start, transitions, end): a list of C bools (may the path start with
    tag j), a C x C list of lists of bools ([i][j]: may tag j follow tag i)
    and a list of C bools (may the path end with tag i). E.g. under IOB2
    start['I-PER'] and transitions['O']['I-PER'] are False; under IOBES
    also end['B-PER'] and transitions['B-PER']['O'].
  """
  scheme = _canonical_scheme(scheme)
  parts = [split_tag(tag) for tag in labels]
  known = [tag == "O" or prefix in _PREFIXES[scheme]
           for tag, (prefix, _) in zip(labels, parts)]

  def needs_successor(part):
    # IOBES closes every entity with E or S: B and I must be continued.
    return scheme == "IOBES" and part[0] in ("B", "I")

  def may_follow(prev, cur):
    if _bad_before(cur[0], cur[1], prev, scheme):
      return False
    return not needs_successor(prev) or (cur[0] in ("I", "E") and
                                         cur[1] == prev[1])

  start = [ok and may_follow(("O", ""), part)
           for ok, part in zip(known, parts)]
  transitions = [[ok_i and ok_j and may_follow(part_i, part_j)
                  for ok_j, part_j in zip(known, parts)]
                 for ok_i, part_i in zip(known, parts)]
  end = [ok and not needs_successor(part) for ok, part in zip(known, parts)]
  return start, transitions, end


def _join(prefix, type_):
  return prefix + "-" + type_ if type_ else prefix


def _render(entities, length, scheme):
  """Writes `entities` as `length` tags of `scheme`."""
  tags = ["O"] * length
  prev_end, prev_type = -2, None
  for type_, start, end in entities:
    for i in range(start, end + 1):
      tags[i] = _join("I", type_)
    if scheme == "IOB2":
      tags[start] = _join("B", type_)
    elif scheme == "IOB1":
      if prev_end == start - 1 and prev_type == type_:
        tags[start] = _join("B", type_)
    elif start == end:
      tags[start] = _join("S", type_)
    else:
      tags[start], tags[end] = _join("B", type_), _join("E", type_)
    prev_end, prev_type = end, type_
  return tags


def convert_scheme(tags, from_scheme, to_scheme):
  """Rewrites a tag sequence from one scheme into another.

  The entities are read with conlleval's rules (`get_entities`), so an
  ill-formed input comes out well formed, holding the entities an evaluator
  would have seen in it.

  Args:
    tags: list of T tag strings in `from_scheme`.
    from_scheme, to_scheme: any of 'IOB1', 'IOB2'/'BIO', 'IOBES'/'BIOES'.

  Returns:
    List of T tags in `to_scheme`.

  Raises:
    ValueError: on an unknown scheme or a tag whose prefix `from_scheme`
      does not use.
  """
  from_scheme = _canonical_scheme(from_scheme)
  to_scheme = _canonical_scheme(to_scheme)
  for i, tag in enumerate(tags):
    if tag != "O" and split_tag(tag)[0] not in _PREFIXES[from_scheme]:
      raise ValueError("tag %d, %r, is not a %s tag" % (i, tag, from_scheme))
  return _render(get_entities(tags, from_scheme), len(tags), to_scheme)
