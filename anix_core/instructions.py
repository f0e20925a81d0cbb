"""Instructions -> `Plan`: what the character does, when, where to, and what the camera does.

`parse("the robot runs forward, then turns left and waves", targets=("fountain",))` splits the
text into clauses, reads each against the curated lexicon in `anix_core.lexicon` (category,
canonical action, direction, speed in m/s, named target, turn), times the clauses over the shot
(explicit durations first, then default weights per action) and picks the camera: the text's own
camera phrase, else AniX's rule (any locomotion -> follow, gestures and object actions -> static);
a `camera=` argument from the user wins over both. Pure Python; the JSON form is in docs/PLAN.md.
"""
from __future__ import annotations

import difflib
import re
from dataclasses import asdict, dataclass, field, fields

from anix_core import lexicon as lx

CAMERA_BEHAVIOURS = ("follow", "orbit", "static", "dolly", "pan", "crane", "tilt", "truck", "whip_pan", "keyframes")
CAMERA_TARGET = "camera"  # reserved target name: "walks toward the camera"

EXAMPLES = (
    "the robot walks forward",
    "runs to the fountain, then waves",
    "turns around and bows, static camera",
    "jogs left for 2 seconds, then sprints forward",
    "sits on the bench while the camera orbits left",
)


class InstructionError(ValueError):
    """Text that cannot become a plan. `suggestions` are phrasings or names that would work."""

    def __init__(self, message: str, suggestions=()):
        self.suggestions = list(suggestions)
        if self.suggestions:
            message = f"{message} Try: " + "; ".join(f'"{s}"' for s in self.suggestions)
        super().__init__(message)


@dataclass
class Segment:
    """One timed action over frames [start_frame, end_frame). `direction` is as written and is
    resolved by planning; `turn_deg` is + counter-clockwise (left)."""

    category: str
    action: str
    direction: str | None
    speed_mps: float
    start_frame: int
    end_frame: int
    target: str | None
    turn_deg: float = 0.0
    text: str = ""
    count: int = 1  # repetitions of the action ("waves twice"); turn_deg already includes them

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CameraPlan:
    """What the camera does; `explicit` is True when the text or the user asked for it."""

    behaviour: str
    params: dict = field(default_factory=dict)
    explicit: bool = False

    def to_dict(self) -> dict:
        return {"behaviour": self.behaviour, **self.params, "explicit": self.explicit}


@dataclass
class Plan:
    text: str
    segments: list[Segment]
    camera: CameraPlan
    num_frames: int
    fps: float
    subject: str | None = None
    warnings: list[str] = field(default_factory=list)  # words kept on a guess, said aloud

    def to_dict(self) -> dict:
        return {"text": self.text, "num_frames": self.num_frames, "fps": self.fps,
                "subject": self.subject, "segments": [s.to_dict() for s in self.segments],
                "camera": self.camera.to_dict(), "warnings": list(self.warnings)}

    @classmethod
    def from_dict(cls, d: dict) -> "Plan":
        cam = dict(d["camera"])
        behaviour = cam.pop("behaviour")
        explicit = bool(cam.pop("explicit", False))
        names = {f.name for f in fields(Segment)}
        segments = [Segment(**{k: v for k, v in s.items() if k in names}) for s in d["segments"]]
        return cls(text=d.get("text", ""), segments=segments,
                   camera=CameraPlan(behaviour, cam, explicit), num_frames=int(d["num_frames"]),
                   fps=float(d["fps"]), subject=d.get("subject"), warnings=list(d.get("warnings", [])))


def speed_class(speed_mps: float) -> str:
    """The gait a speed reads as: idle, walk (< 2 m/s), jog (< 3), run (< 4.75) or sprint."""
    if speed_mps <= 0.0:
        return "idle"
    if speed_mps < 2.0:
        return "walk"
    if speed_mps < 3.0:
        return "jog"
    if speed_mps < 4.75:
        return "run"
    return "sprint"


def default_camera(behaviour: str) -> CameraPlan:
    """A camera behaviour with its default parameters (explicit=False): what `_camera_move`
    reads from words that give none."""
    return CameraPlan(behaviour, _camera_move(behaviour, "").params, False)


# ----------------------------------------------------------------------------- targets

def _normalise_name(name: str) -> str:
    """'The_Fountains.001' -> 'fountain': case, articles, separators, plural and Blender's
    numeric duplicate suffix do not matter."""
    s = re.sub(r"\.\d+$", "", str(name).strip().lower())
    s = re.sub(r"[_\-.]+", " ", s)
    words = [w for w in s.split() if w not in ("the", "a", "an")]
    words = [w[:-1] if len(w) > 3 and w.endswith("s") and not w.endswith("ss") else w for w in words]
    return " ".join(words)


class _Targets:
    """The user's target names, looked up by their normalised form (see `_normalise_name`)."""

    def __init__(self, targets):
        names = list(targets.keys()) if isinstance(targets, dict) else list(targets or ())
        self.names = [str(n) for n in names]
        self.by_norm: dict[str, list[str]] = {}
        for n in self.names:
            self.by_norm.setdefault(_normalise_name(n), []).append(n)

    def match(self, phrase: str, fuzzy: bool = True) -> str | None:
        """The target a phrase names (exact spelling preferred, then the shortest name), or None."""
        norm = _normalise_name(phrase)
        if not norm:
            return None
        found = self.by_norm.get(norm)
        if not found and fuzzy and len(norm) >= 4:
            close = difflib.get_close_matches(norm, list(self.by_norm), n=1, cutoff=0.8)
            found = self.by_norm.get(close[0]) if close else None
        if not found:
            return None
        exact = [n for n in found if n.lower() == phrase.strip().lower()]
        return exact[0] if exact else sorted(found, key=lambda n: (len(n), n))[0]


# ----------------------------------------------------------------------------- clauses

_TOKEN = re.compile(r"[A-Za-z]+(?:['’][A-Za-z]+)*(?:\.\d+)?|\d+(?:\.\d+)?|°")
_SEQ_SPLIT = re.compile(
    r"(?<!\d)[.!?;:\n]+(?!\d)|,|\band\s+then\b|\bthen\b|\band\s+after\s+that\b|\bafter\s+that\b|"
    r"\bafterwards?\b|\bbefore\b|\bfinally\b|\bnext\b(?!\s+to)|\blater\b|\bsubsequently\b|\bonce\s+there\b",
    re.IGNORECASE)
_SIM_SPLIT = re.compile(r"\bwhile\b|\bmeanwhile\b|\bas\b(?=\s+(?:the|a|an|his|her|their|he|she|it|they)\b)|"
                        r"\b(?:and\s+)?with\s+(?=(?:the\s+|a\s+)?(?:camera|cam)\b)", re.IGNORECASE)
_SAME_TIME = re.compile(r"\bat\s+the\s+same\s+time\b|\bsimultaneously\b|\bat\s+once\b", re.IGNORECASE)


@dataclass
class _Token:
    word: str      # lower case
    start: int
    end: int


@dataclass
class _Clause:
    text: str
    tokens: list
    joiner: str    # how it joins the previous clause: "start", "then", "and", "while"


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(0).lower().replace("’", "'"), m.start(), m.end()) for m in _TOKEN.finditer(text)]


def _lemma(word: str) -> str | None:
    return lx.FORM_TO_BASE.get(word)


def _match_verb_at(tokens: list[_Token], i: int) -> tuple[str, int] | None:
    """The longest lexicon key starting at token i: (key, number of tokens used). A possessive
    may sit inside a phrase ("shakes his head")."""
    base = _lemma(tokens[i].word)
    if base is None:
        return None
    best = None
    for key in lx.PHRASE_INDEX.get(base, ()):
        parts = key.split()
        j, ok = i + 1, True
        for part in parts[1:]:
            if j < len(tokens) and tokens[j].word in ("his", "her", "its", "their", "the", "a") and \
                    part not in ("a", "the") and j + 1 < len(tokens) and tokens[j + 1].word in (part, part + "s"):
                j += 1
            if j < len(tokens) and (tokens[j].word == part or _lemma(tokens[j].word) == part):
                j += 1
            else:
                ok = False
                break
        if ok and (best is None or j - i > best[1]):
            best = (key, j - i)
    return best


_POSSESSIVES = {"my", "our", "his", "her", "its", "their", "your"}


def _find_verb(tokens: list[_Token]) -> tuple[int, str, int] | None:
    """(index, lexicon key, length) of the clause's main verb, or None."""
    found = []
    for i in range(len(tokens)):
        m = _match_verb_at(tokens, i)
        if m:
            found.append((i, m[0], m[1]))
    if not found:
        return None
    for n, (i, key, length) in enumerate(found):
        later = found[n + 1:]
        after_det = i > 0 and tokens[i - 1].word in lx.DETERMINERS
        if after_det and not later and not any(k in lx.LIGHT_VERBS for _, k, _ in found[:n]) and \
                tokens[i - 1].word in _POSSESSIVES:
            return None  # "tilts its head": a noun after a possessive, not the verb "head"
        if later and (key in lx.LIGHT_VERBS or (after_det and key not in lx.VERBS)):
            continue
        if later and after_det and n == 0 and i <= 2:
            continue  # "the dance teacher waves": a noun in the subject
        return i, key, length
    return found[-1]


def _fuzzy_verb(tokens: list[_Token]) -> tuple[int, str, int] | None:
    """A close misspelling of a known verb form ("wlaks"), not right after a determiner."""
    for i, t in enumerate(tokens):
        if len(t.word) < 4 or t.word in lx.DIRECTION_WORDS or (i > 0 and tokens[i - 1].word in lx.DETERMINERS) \
                or _other_verb(t.word):
            continue
        close = difflib.get_close_matches(t.word, list(lx.FORM_TO_BASE), n=1, cutoff=0.84) or \
            [f for f in lx.FORM_TO_BASE if len(f) == len(t.word) and sorted(f) == sorted(t.word)
             and f[0] == t.word[0] and sum(a != b for a, b in zip(f, t.word)) == 2]
        if close:
            base = lx.FORM_TO_BASE[close[0]]
            if base in lx.VERBS:
                return i, base, 1
    return None


def _other_verb(word: str) -> bool:
    """Whether a word is a form of a common verb outside the lexicon (lexicon.OTHER_VERBS)."""
    stems = {word, word[:-1], word[:-2], word[:-3], word[:-3] + "e", word[:-2] + "e", word[:-3] + "y"}
    return bool(stems & lx.OTHER_VERBS) and not _lemma(word)


def _split_clauses(text: str) -> list[_Clause]:
    clauses: list[_Clause] = []
    pos, joiner = 0, "start"
    marks = sorted([(m.start(), m.end(), "comma" if m.group(0) == "," else "then") for m in _SEQ_SPLIT.finditer(text)] +
                   [(m.start(), m.end(), "while") for m in _SIM_SPLIT.finditer(text)])
    pieces = []
    for start, end, kind in marks:
        if start < pos:
            continue
        pieces.append((text[pos:start], joiner))
        pos, joiner = end, kind
    pieces.append((text[pos:], joiner))
    for piece, join in pieces:
        together = bool(_SAME_TIME.search(piece))  # "walks and waves at the same time"
        for k, (sub, sub_join) in enumerate(_split_and(piece)):
            sub = sub.strip()
            clauses.append(_Clause(sub, _tokens(sub), join if k == 0 else "while" if together else sub_join))
    clauses = [c for c in clauses if c.tokens]
    for n in range(len(clauses) - 2, -1, -1):  # "camera: crane up" -> "camera crane up"
        if all(t.word in lx.CAMERA_NOUNS | lx.DETERMINERS for t in clauses[n].tokens):
            text = f"{clauses[n].text} {clauses[n + 1].text}"
            clauses[n:n + 2] = [_Clause(text, _tokens(text), clauses[n].joiner)]
    return clauses


def _split_and(piece: str) -> list[tuple[str, str]]:
    """Split at "and" when a new verb (or the camera) follows: "turns left and waves"."""
    toks = _tokens(piece)
    cuts = []
    for i, t in enumerate(toks):
        if t.word != "and" or i + 1 >= len(toks):
            continue
        j = i + 1
        while j < len(toks) and (toks[j].word in lx.SLOW_WORDS | lx.FAST_WORDS | lx.PRONOUNS | {"then", "also", "the"}):
            j += 1
        if j < len(toks) and (_match_verb_at(toks, j) or toks[j].word in lx.CAMERA_NOUNS or
                              _unknown_verb_follows(toks, i, j)):
            cuts.append(t)
    if not cuts:
        return [(piece, "and")]
    out, pos = [], 0
    for t in cuts:
        out.append((piece[pos:t.start], "and"))
        pos = t.end
    out.append((piece[pos:], "and"))
    return out


def _unknown_verb_follows(toks: list[_Token], and_at: int, j: int) -> bool:
    """Whether the word after "and" is a verb outside the lexicon: it has the same ending as a
    known verb before it ("walks to the bench and plops down") and what follows it is what follows
    verbs, so the new clause is kept (with a warning) rather than read into the previous one."""
    word, nxt = toks[j].word, (toks[j + 1].word if j + 1 < len(toks) else "")
    if not _VERB_FORM.search(word) or _lemma(word) or word in lx.SCENE_NOUNS:
        return False
    ending = re.search(r"(s|ed|ing)$", word).group(1)
    before = [t.word for t in toks[:and_at] if _lemma(t.word) in lx.VERBS or _lemma(t.word) in lx.PHRASE_INDEX]
    if not any(b.endswith(ending) for b in before):
        return False
    if not nxt or nxt in _COUNT_WORDS:  # "... and florps", "... and zorbles twice"
        # a plural of a scene noun ends a noun phrase ("past the benches and trees"), not a clause
        return not any(w in lx.SCENE_NOUNS for w in (word[:-1], word[:-2]))
    return nxt in _FOLLOWS_VERBS


# ----------------------------------------------------------------------------- numbers

_NUM = r"(\d+(?:\.\d+)?|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|ninety|half an?|a couple of|a few|couple of|few)"


def _number(word: str) -> float:
    word = word.strip().lower()
    if word.startswith("half"):
        return 0.5
    if "couple" in word:
        return 2.0
    if "few" in word:
        return 3.0
    try:
        return float(word)
    except ValueError:
        return float(lx.NUMBER_WORDS.get(word, 1))


_DURATION = re.compile(r"(?:\bfor|\bover|\bduring)?\s*\b" + _NUM + r"(\s+and\s+a\s+half)?\s*"
                       r"(seconds?|secs?|frames?|(?<=\d)s|(?<=\d\s)s|(?<=\d)f|(?<=\d\s)f)\b", re.IGNORECASE)  # "5 s", not "fives"
_DISTANCE = re.compile(r"\b" + _NUM + r"\s*(meters?|metres?|m|steps?|paces?|feet|foot|ft)\b(?!\s*/)", re.IGNORECASE)
_DEGREES = re.compile(r"(\d+(?:\.\d+)?|ninety|forty-five|one hundred and eighty)\s*(?:degrees?|deg|°)", re.IGNORECASE)
_SPEED = re.compile(r"(\d+(?:\.\d+)?)\s*(?:m/s|mps|meters per second|metres per second)", re.IGNORECASE)


def _duration_frames(text: str, fps: float) -> tuple[int | None, float]:
    """(explicit frames or None, weight factor) from "for 2 seconds", "30 frames", "briefly"."""
    m = _DURATION.search(text)
    if m:
        value = _number(m.group(1)) + (0.5 if m.group(2) else 0.0)
        unit = m.group(3).lower()
        frames = value if unit.startswith("f") else value * fps
        return max(1, int(round(frames))), 1.0
    low = text.lower()
    if re.search(r"\bfor\s+a\s+(?:moment|second|sec)\b", low):
        return max(1, int(round(fps))), 1.0
    if re.search(r"\b(?:briefly|quickly\s+once|for\s+a\s+bit|momentarily)\b", low):
        return None, 0.4
    if re.search(r"\bfor\s+(?:a\s+(?:long\s+)?while|long|a\s+long\s+time|some\s+time)\b", low):
        return None, 2.0
    return None, 1.0


_COUNT = re.compile(r"\b(?:(once)|(twice)|(thrice)|(?:" + _NUM[1:-1] + r"|several|\d+)\s+times)\b", re.IGNORECASE)


def _count(text: str) -> int:
    """How many times a clause says its action happens: "twice", "three times", "5 times" (1
    when it says none)."""
    m = _COUNT.search(text)
    if not m:
        return 1
    if m.group(1) or m.group(2) or m.group(3):
        return 1 if m.group(1) else 2 if m.group(2) else 3
    word = m.group(0).lower().rsplit(" ", 1)[0].strip()
    return max(1, int(round(3 if word == "several" else _number(word))))


def _count_weight(count: int) -> float:
    """Repeating an action takes longer, but the shot stays shared: +25% per repeat, at most x2."""
    return min(2.0, 1.0 + 0.25 * (count - 1))


# ----------------------------------------------------------------------------- camera

# Camera moves, in the order they win when two start at the same word ("whip pan" before "pan").
_CAM_MOVES = (
    ("whip_pan", r"whip[- ]?pan\w*"),
    ("crane", r"(?:crane[sd]?|craning|jib\w*|boom(?:s|ed|ing)?|pedestal\w*)(?!\s+(?:his|her|its|their)\s+neck)"
              r"|(?:rises|rising|ascend\w*|descend\w*|lowers|lowering|sinks|sinking)"),
    ("tilt", r"tilt\w*(?!\s+(?:his|her|its|their)\s+head)"),
    ("truck", r"(?:truck\w*|crab\w*|slides?|sliding)(?=\s+(?:\w+\s+)?(?:to\s+the\s+)?(?:left|right))"),
    ("dolly", r"doll(?:y|ies|ied|ying)|push(?:es|ed|ing)?[- ]in|pull(?:s|ed|ing)?[- ](?:out|back|away)|zoom\w*|"
              r"(?:moves?|comes?) (?:in|closer|away|out|back)|approach\w*|track(?:s|ing)? (?:in|out)|closes? in|"
              r"moves? toward"),
    ("orbit", r"orbit\w*|circl\w*|revolv\w*|arc\w*|rotat\w* around|spin\w* around|goes around|moves around|360"),
    ("pan", r"pan(?:s|ned|ning)?|swivel\w*"),
    ("follow", r"follow\w*|track\w*|tail\w*|chase\w*|trail\w*"),
)
_CAM_MOVE = re.compile("|".join(rf"\b(?P<{name}>{pattern})\b" for name, pattern in _CAM_MOVES), re.I)
_CAM_FOLLOW_WEAK = re.compile(r"\bbehind\b", re.I)  # "the camera stays behind him": only when nothing else
_CAM_STATIC = re.compile(r"\b(static|still|locked|lock|fixed|stationary|tripod|steady|doesn't move|does not move|"
                         r"no (?:camera )?movement|stays put|stays|don't move|not move|frozen|unmoving)\b", re.I)
_CAMERA_WORDS = re.compile(
    r"\b(camera|cam|shot|orbit\w*|lens|viewpoint|dolly|pan|pans|panned|panning|tracking shot|zoom\w*|locked[- ]off|"
    r"tripod|whip[- ]?pan\w*|jib\w*|boom (?:up|down)|pedestal\w*|push(?:es|ing)?[- ]in|pull(?:s|ing)?[- ](?:out|back)|"
    r"truck\w* (?:left|right)|crab\w* (?:left|right))\b"
    r"|\b(?:crane[sd]?|craning|tilt\w*)\b(?!\s+(?:his|her|its|their)\s+(?:neck|head))", re.I)
# Two camera moves that make one move together; the first named leads ("orbit left and dolly in").
CAMERA_COMBINATIONS = {frozenset(p) for p in (("orbit", "dolly"), ("orbit", "crane"), ("follow", "crane"),
                                              ("pan", "tilt"))}
_OBJECT_PRONOUN = re.compile(r"\b(orbit\w*|circl\w*|follow\w*|track\w*)\s+(?:around\s+)?(him|her|them|it|the (?:character|subject|actor|robot))\b", re.I)


def _is_camera_clause(text: str) -> bool:
    """Whether a clause says what the camera does (it names the camera as the one acting, or
    uses a camera move); "walks toward the camera" names it only as the character's goal."""
    found = _CAMERA_WORDS.search(text) or _OBJECT_PRONOUN.search(text)
    if not found:
        return False
    tokens = _tokens(text)
    nouns = [i for i, t in enumerate(tokens) if t.word in lx.CAMERA_NOUNS]
    if not nouns and _names_another_subject([t for t in tokens if t.end <= found.start()]):
        return False  # "the robot zooms to the bench", "he pans for gold": the character acts
    if nouns and _camera_is_an_object(tokens, nouns[0]):
        return False  # "the robot high-fives the camera": the camera is what it acts on
    return not _camera_is_only_a_goal(tokens)


def _camera_is_an_object(tokens: list[_Token], at: int) -> bool:
    """Whether the camera noun at `at` is the object of the character's verb: another subject
    leads the clause and a verb, not a preposition, stands before the camera's article."""
    j = at - 1
    while j >= 0 and tokens[j].word in lx.DETERMINERS:
        j -= 1
    if j < 1 or j == at - 1:
        return False
    before = tokens[j].word
    if before in _GOAL_PREPS | _AT_PREPS | _TOWARD_PREPS | {"by", "as", "while", "and", "then", "so", "is", "are"}:
        return False
    return _names_another_subject(tokens[:j]) and not _CAMERA_WORDS.search(
        " ".join(t.word for t in tokens[:at]))


def _names_another_subject(before: list[_Token]) -> bool:
    """Whether the words before a camera word are a subject other than the camera: a pronoun,
    or a noun phrase ("the robot", "Robot") that names no camera."""
    words = [t.word for t in _strip_leading(before)
             if t.word not in lx.SLOW_WORDS | lx.FAST_WORDS | lx.INTENSIFIERS | {"then", "now", "also"}]
    if not words:
        return False
    return words[0] in lx.PRONOUNS - {"us", "me", "you"} or words[0] in lx.DETERMINERS or \
        words[0] in lx.SCENE_NOUNS


def _camera_is_only_a_goal(tokens: list[_Token]) -> bool:
    """True when every camera noun is the object of a preposition toward it ("to the camera",
    "at the cam") or of a verb that takes its goal directly ("approaches the camera")."""
    named = False
    for i, t in enumerate(tokens):
        if t.word not in lx.CAMERA_NOUNS:
            continue
        named = True
        j = i - 1
        while j >= 0 and tokens[j].word in lx.DETERMINERS:
            j -= 1
        if j < 0:
            return False
        before = tokens[j].word
        if before == "for" and j > 0 and _is_locomotion_verb(tokens[j - 1].word):
            continue  # "heads for the camera", "runs for the camera": a goal
        if before not in _GOAL_PREPS and _lemma(before) not in _GOAL_VERBS:
            return False
    return named


def _is_locomotion_verb(word: str) -> bool:
    verb = lx.VERBS.get(_lemma(word) or "")
    return verb is not None and verb.category == "locomotion"


def _camera_moves(text: str) -> list[CameraPlan]:
    """The camera moves a clause names, in order, each read from its own words: "orbits left and
    pans right" is an orbit to the left and a pan to the right. Static and "behind" count only
    when the clause names no move."""
    low = text.lower()
    found = [(m.start(), m.lastgroup) for m in _CAM_MOVE.finditer(low)]
    moves: list[CameraPlan] = []
    for n, (start, behaviour) in enumerate(found):
        span = low[0 if n == 0 else start:found[n + 1][0] if n + 1 < len(found) else len(low)]
        move = _camera_move(behaviour, span)
        if moves and moves[-1].behaviour == move.behaviour:
            moves[-1] = move  # "the camera pans, panning right": one pan
        else:
            moves.append(move)
    if not moves and _CAM_STATIC.search(low):
        moves.append(CameraPlan("static", {}, True))
    if not moves and _CAM_FOLLOW_WEAK.search(low):
        moves.append(_camera_move("follow", low))
    return moves


def _metres(low: str, default: float) -> float:
    m = _DISTANCE.search(low)
    return _number(m.group(1)) if m and m.group(2).lower().startswith("m") else default


def _degrees(low: str, default: float) -> float:
    m = _DEGREES.search(low)
    return _degrees_value(m.group(1)) if m else default


def _camera_move(behaviour: str, low: str) -> CameraPlan:
    """One camera move with its parameters, read from the words that describe it."""
    side = _side(low)
    vertical = "down" if re.search(r"\b(down\w*|lower\w*|descend\w*|sink\w*|drops?)\b", low) else "up"
    if behaviour == "orbit":
        angle = _written_angle_deg(low, full_words="full|whole|complete|all the way|360")
        params = {"direction": side or "left", "degrees": angle or 90.0}
    elif behaviour == "dolly":
        out = re.search(r"\b(out|back|away|farther|further|pull\w*)\b", low)
        params = {"direction": "out" if out else "in", "distance_m": _metres(low, 2.0)}
    elif behaviour == "pan" and re.search(r"\bpan\w*\s+(?:all\s+the\s+way\s+)?(?:a)?round\b", low):
        params = {"direction": side or "right", "degrees": 180.0, "around": True}
    elif behaviour == "pan":
        params = {"direction": side or "right", "degrees": _degrees(low, 30.0)}
    elif behaviour == "whip_pan":
        params = {"direction": side or "right", "degrees": _degrees(low, 90.0)}
    elif behaviour == "crane":
        params = {"direction": vertical, "distance_m": _metres(low, 1.5)}
    elif behaviour == "tilt":
        params = {"direction": vertical, "degrees": _degrees(low, 20.0)}
    elif behaviour == "truck":
        params = {"direction": side or "right", "distance_m": _metres(low, 2.0)}
    elif behaviour == "follow":
        params = {"distance_m": _metres(low, 4.0), "height_m": 1.8}
    else:
        params = {}
    return CameraPlan(behaviour, params, True)


def _describe_move(move: CameraPlan) -> str:
    """'orbit left', 'dolly in', 'static camera': a move as the user would say it."""
    name = move.behaviour.replace("_", " ")
    return f"{name} {move.params['direction']}" if "direction" in move.params else \
        ("static camera" if name == "static" else name)


def _combine_camera_moves(moves: list[CameraPlan]) -> CameraPlan | None:
    """One camera plan from the moves an instruction names: one move as is (the last reading of
    a behaviour named twice wins), a meaningful pair (CAMERA_COMBINATIONS) as the first with the
    second under "with"; any other pair is an error that names both moves."""
    # a dict keeps each key where it was first put: the behaviours in the order first named, each its last move
    ordered = list({move.behaviour: move for move in moves}.values())
    if not ordered:
        return None
    if len(ordered) == 1:
        return ordered[0]
    names = [_describe_move(m) for m in ordered]
    if len(ordered) == 2 and frozenset(m.behaviour for m in ordered) in CAMERA_COMBINATIONS:
        first, second = ordered
        return CameraPlan(first.behaviour, {**first.params, "with": {"behaviour": second.behaviour, **second.params}},
                          True)
    pairs = ", ".join(" + ".join(sorted(p)) for p in sorted(CAMERA_COMBINATIONS, key=sorted))
    raise InstructionError(
        f'the camera is asked to {" and ".join(names)} at once; one camera can do one move, or these pairs '
        f'together: {pairs}.', [f"camera {n}" if n != "static camera" else n for n in names])


def _side(low: str) -> str | None:
    """Which way the camera moves, in its own frame: an orbit to the left is clockwise seen from
    above (the camera looks at the character and moves to its left)."""
    if re.search(r"\b(counter-?clockwise|anti-?clockwise|right\w*)\b", low):
        return "right"
    if re.search(r"\b(clockwise|left\w*)\b", low):
        return "left"
    return None


def _degrees_value(word: str) -> float:
    word = word.lower()
    return {"ninety": 90.0, "forty-five": 45.0, "one hundred and eighty": 180.0}.get(word) or float(word)


def _written_angle_deg(low: str, full_words: str = "full|complete|whole") -> float | None:
    """An angle as written, in degrees: "45 degrees", "ninety degrees", a half (180), quarter (90)
    or full (360) turn, the more specific word first ("a full half turn" is 180); None when the
    text gives none."""
    m = _DEGREES.search(low)
    if m:
        return _degrees_value(m.group(1))
    for pattern, degrees in (("half", 180.0), ("quarter", 90.0), (full_words, 360.0)):
        if re.search(rf"\b(?:{pattern})\b", low):
            return degrees
    return None


# ----------------------------------------------------------------------------- action clauses

_TOWARD_PREPS = {"to", "toward", "towards", "until"}
_GOAL_PREPS = {"to", "toward", "towards", "at"}
_GOAL_VERBS = {"approach", "reach", "face", "chase"}  # "approaches the fountain": goal, no preposition
_AIMED_GESTURES = {"turn", "look", "point"}  # gestures whose "to X" is a direction, not an audience
_AT_PREPS = {"at", "on", "onto", "into", "near", "by", "beside", "past", "behind", "over", "under", "in", "from",
             "with", "of"}
_NOT_A_PLACE = lx.PRONOUNS | {"where", "there", "here", "somewhere", "nowhere", "his", "her", "its", "their",
                              "front", "side", "start", "end", "other"}
_NP_STOP = {"and", "then", "for", "with", "while", "at", "to", "in", "on", "slowly", "quickly", "fast",
            "before", "after", "until", "as", "from", "of", "again"}


@dataclass
class _Action:
    category: str
    action: str
    direction: str | None
    speed_mps: float
    target: str | None
    turn_deg: float
    text: str
    frames: int | None
    weight: float
    still: bool = False
    joiner: str = "then"
    verb_text: str = ""
    explicit_direction: bool = False
    count: int = 1


def _noun_phrase(tokens: list[_Token], i: int, text: str) -> tuple[str, int]:
    """The words of a noun phrase starting at token i (articles skipped): (phrase, next index)."""
    while i < len(tokens) and tokens[i].word in lx.DETERMINERS:
        i += 1
    start = i
    while i < len(tokens) and i - start < 4 and tokens[i].word not in _NP_STOP and not _DURATION.match(tokens[i].word) \
            and tokens[i].word not in lx.SLOW_WORDS | lx.FAST_WORDS:
        if i > start and (_lemma(tokens[i].word) in lx.VERBS or tokens[i].word in lx.DIRECTION_WORDS):
            break
        i += 1
    if start == i:
        return "", i
    return text[tokens[start].start:tokens[i - 1].end], i


def _resolve_target(phrase: str, targets: _Targets, fuzzy: bool = True) -> str | None:
    """The longest run of the phrase's words that names a target ("big stone fountain"); close
    misspellings count when `fuzzy`."""
    words = phrase.split()
    for n in range(len(words), 0, -1):
        for start in range(0, len(words) - n + 1):
            span = words[start:start + n]
            if any(w.lower() in lx.NUMBER_WORDS for w in span):
                continue
            found = targets.match(" ".join(span), fuzzy=fuzzy)
            if found:
                return found
    return None


def _target_or_camera(phrase: str, targets: _Targets, fuzzy: bool = True) -> str | None:
    """A named target, else CAMERA_TARGET when the phrase names the camera or the viewer."""
    found = _resolve_target(phrase, targets, fuzzy=fuzzy)
    if found is None and _normalise_name(phrase) in _CAMERA_TARGET_NAMES:
        found = CAMERA_TARGET
    return found


_CAMERA_TARGET_NAMES = {_normalise_name(w) for w in lx.CAMERA_TARGET_WORDS}


def _unknown_target_error(phrase: str, targets: _Targets, verb_text: str) -> InstructionError:
    if not targets.names:
        return InstructionError(
            f'"{phrase}" is not a target in this shot: there are no targets. Add an empty (anchor target) '
            f'named "{_normalise_name(phrase) or phrase}" in Blender, or give a direction instead.',
            [f"{verb_text} forward", f"{verb_text} to the left"])
    close = difflib.get_close_matches(_normalise_name(phrase), list(targets.by_norm), n=3, cutoff=0.4)
    names = [targets.by_norm[c][0] for c in close] or targets.names
    return InstructionError(
        f'"{phrase}" is not a target in this shot (available targets: {", ".join(targets.names)}).',
        [f"{verb_text} to the {n}" for n in names[:3]])


def _parse_action(clause: _Clause, verb: tuple[int, str, int], targets: _Targets, fps: float) -> list[_Action]:
    tokens, text = clause.tokens, clause.text
    i, key, length = verb
    entry = lx.VERBS[key]
    low = text.lower()
    category, action, speed = entry.category, entry.action, entry.speed_mps
    direction, turn_deg, target = entry.direction, entry.turn_deg, None
    verb_text = text[tokens[i].start:tokens[i + length - 1].end]
    rest = tokens[i + length:]
    directions: list[str] = []
    if direction and " " in key:
        directions.append(direction)  # "step back", "turn around": the phrase says which way

    # targets and prepositional phrases
    consumed: set[int] = set()
    k = 0
    np_after_verb = key in _GOAL_VERBS | {"circle", "cross"} or entry.direction == "toward" and key != "return"
    optional_np = category in ("object", "gesture") or key.split()[-1] in _AT_PREPS
    if (np_after_verb or optional_np) and rest and rest[0].word not in lx.DIRECTION_WORDS and rest[0].word not in _TOWARD_PREPS | _AT_PREPS:
        phrase, end = _noun_phrase(rest, 0, text)
        if phrase:
            found = _target_or_camera(phrase, targets, fuzzy=np_after_verb)
            if found is None and category == "locomotion" and not optional_np and key != "cross":
                raise _unknown_target_error(phrase, targets, verb_text)
            if found:
                target = found
                if np_after_verb or category == "gesture":
                    directions.append("around" if key == "circle" else "toward")
            consumed.update(range(0, end))
    while k < len(rest):
        w = rest[k].word
        if k in consumed:
            k += 1
            continue
        is_toward = w in _TOWARD_PREPS or (w in ("up", "over", "back", "straight", "right", "away") and k + 1 < len(rest) and rest[k + 1].word in ("to", "toward", "towards"))
        if w == "to" and k + 1 < len(rest) and _lemma(rest[k + 1].word) in ("face", "look", "point", "wave", "turn"):
            start = k + 2 + (1 if k + 2 < len(rest) and rest[k + 2].word in ("at", "toward", "towards") else 0)
            phrase, end = _noun_phrase(rest, start, text)
            found = _target_or_camera(phrase, targets) if phrase else None
            if found:
                target = found
                directions.append("toward")
            consumed.update(range(k, end))
            k = end
            continue
        if w == "away" and k + 1 < len(rest) and rest[k + 1].word == "from":
            phrase, end = _noun_phrase(rest, k + 2, text)
            directions.append("away")  # the thing left behind is not a goal: no target
            consumed.update(range(k, end))
            k = end
            continue
        if w == "for" and category == "locomotion" and k + 1 < len(rest) and rest[k + 1].word in lx.DETERMINERS:
            phrase, end = _noun_phrase(rest, k + 1, text)
            found = _target_or_camera(phrase, targets) if phrase else None
            if found:  # "heads for the fountain"; "runs for a while" stays a duration
                target = found
                directions.append("toward")
                consumed.update(range(k, end))
                k = end
                continue
        if is_toward:
            start = k + 1 if w in _TOWARD_PREPS else k + 2
            if w == "until":
                start = k + 1
                while start < len(rest) and (rest[start].word in lx.PRONOUNS or _lemma(rest[start].word) in ("reach", "get", "arrive")
                                             or rest[start].word in ("at", "to")):
                    start += 1
            phrase, end = _noun_phrase(rest, start, text)
            norm = _normalise_name(phrase)
            if not phrase:
                k = start
                continue
            head = (norm.split() or [""])[0]
            camera = norm in _CAMERA_TARGET_NAMES
            if not camera and (head in lx.DIRECTION_WORDS or head in _NOT_A_PLACE):
                # "to the left", "to his right": a direction, read below; "to where he stood": no target
                k = start
                continue
            if w == "to" and category == "gesture" and action not in _AIMED_GESTURES and not entry.moves_if_directed:
                consumed.update(range(k, end))  # "bows to the camera": whom it addresses, not a goal
                k = end
                continue
            found = _target_or_camera(phrase, targets)
            if found is None and category == "locomotion":
                raise _unknown_target_error(phrase, targets, verb_text)
            if found:
                target = found
                directions.append("toward")
            consumed.update(range(k, end))
            k = end
            continue
        if w in _AT_PREPS or w in ("around", "round", "across", "through"):
            phrase, end = _noun_phrase(rest, k + 1, text)
            norm = _normalise_name(phrase) if phrase else ""
            if phrase and (norm.split() or [""])[0] not in lx.DIRECTION_WORDS:
                found = _target_or_camera(phrase, targets) if w in ("at", "around") else _resolve_target(phrase, targets)
                if found:
                    target = target or found
                    if w in ("around", "round"):
                        directions.append("around")
                    elif w == "at" and (category == "gesture" or found == CAMERA_TARGET):
                        directions.append("toward")  # "points at the fountain", "runs at the camera"
                consumed.update(range(k, end))
                k = end
                continue
        k += 1

    # bare direction words
    for k, t in enumerate(rest):
        if k in consumed:
            continue
        d = lx.DIRECTION_WORDS.get(t.word)
        nxt = rest[k + 1].word if k + 1 < len(rest) else ""
        prev = rest[k - 1].word if k > 0 else ""
        if d is None:
            if t.word in ("in", "a") and nxt in ("circle", "circles") or (t.word == "in" and nxt == "reverse"):
                directions.append("around" if nxt.startswith("circle") else "backward")
            continue
        if t.word == "right" and (nxt in ("away", "now", "there", "here", "after", "before", "into", "up") or prev == "all"):
            continue
        if t.word == "straight" and nxt in ("up", "down", "at"):
            continue
        if t.word in ("circle", "circles") and prev in ("in", "a"):
            continue
        if t.word == "back" and category in ("gesture", "object") and action != "turn":
            continue
        directions.append(d)
    if re.search(r"\bback\s+and\s+forth\b|\bto\s+and\s+fro\b", low):
        directions = [d for d in directions if d not in ("forward", "backward")]
        directions.append("back and forth")
    for a in directions:
        if a in lx.OPPOSITE and lx.OPPOSITE[a] in directions:
            raise InstructionError(
                f'"{text}" asks for {a} and {lx.OPPOSITE[a]} at once; one clause can only go one way.',
                [f"{verb_text} {a}, then {lx.OPPOSITE[a]}", f"{verb_text} {a}"])
    if directions:
        order = ("toward", "away", "around", "back and forth", "left", "right", "backward", "forward")
        direction = min(directions, key=order.index)

    # stationary phrasing ("jogs in place") and negation ("does not move")
    stationary = bool(re.search(r"\b(in place|on the spot|without moving|in position)\b", low))
    negated = bool(re.search(r"\b(don't|doesn't|do not|does not|never|not|no longer|stops?)\b\s+" + re.escape(tokens[i].word), low))
    still = any(t.word in lx.STILL_WORDS for t in tokens) or stationary
    if negated and category == "locomotion":
        category, action, speed, direction, still = "idle", "stand", 0.0, None, True

    # jumps and hops that go somewhere
    if entry.moves_if_directed and direction in ("forward", "backward", "left", "right", "toward", "away", "around"):
        category, speed = "locomotion", (1.2 if action == "hop" else 1.5)
    if category == "locomotion" and stationary:
        category, speed, direction = "gesture", 0.0, None

    if category == "locomotion":
        direction = direction or "forward"
        speed = _modified_speed(speed, tokens, low)
        if direction == "toward" and target is None:
            raise InstructionError(f'"{text}": toward what? Name a target placed in Blender.',
                                   [f"{verb_text} to the {n}" for n in targets.names[:3]] or [f"{verb_text} forward"])
    else:
        speed = 0.0

    if action in ("turn", "spin"):
        direction, turn_deg = _turn(action, key, direction, low)

    count = _count(low)
    if action in ("turn", "spin"):
        turn_deg *= count  # "spins twice": 720 degrees
    frames, factor = _duration_frames(low, fps)
    weight = entry.weight * factor * _count_weight(count)
    if category == "locomotion" and frames is None:
        m = _DISTANCE.search(low)
        if m and speed > 0:
            unit = m.group(2).lower()
            metres = _number(m.group(1)) * (0.7 if unit.startswith(("step", "pace")) else 0.3048 if unit.startswith(("f",)) else 1.0)
            frames = max(1, int(round(metres / speed * fps)))
    if category == "locomotion" and weight < 3.0 and entry.weight < 3.0:
        weight = max(weight, 2.0 * factor)

    out = [_Action(category, action, direction, round(speed, 3), target, float(turn_deg), text, frames,
                   weight, still=still, joiner=clause.joiner, verb_text=verb_text,
                   explicit_direction=bool(directions) or entry.direction is not None, count=count)]
    if direction == "back and forth":
        half = None if frames is None else max(1, frames // 2)
        a, b = out[0], _Action(**{**out[0].__dict__})
        a.direction, b.direction = "forward", "backward"
        a.frames, b.frames = half, (None if frames is None else max(1, frames - half))
        a.weight = b.weight = weight / 2
        b.joiner = "then"
        out = [a, b]
    return out


def _modified_speed(speed_mps: float, tokens: list[_Token], low: str) -> float:
    """A gait's speed as the clause modifies it: "at 2 m/s" sets it, "slowly" x0.7 ("very
    slowly" x0.5), "quickly" x1.3 ("very quickly" x1.6)."""
    m = _SPEED.search(low)
    if m:
        return float(m.group(1))
    intense = any(t.word in lx.INTENSIFIERS for t in tokens)
    if any(t.word in lx.SLOW_WORDS for t in tokens) or re.search(r"\bat a slow pace\b", low):
        return speed_mps * (0.5 if intense else 0.7)
    if any(t.word in lx.FAST_WORDS for t in tokens) or re.search(r"\b(full speed|top speed|as fast as)\b", low):
        return speed_mps * (1.6 if intense else 1.3)
    return speed_mps


def _turn(action: str, key: str, direction: str | None, low: str) -> tuple[str | None, float]:
    """(direction, turn_deg) of a turn or spin: left + / right -, 90 (spin 360) unless an angle
    is written; otherwise around, 180 (spin 360); 0 toward a target, which planning turns to."""
    amount = _written_angle_deg(low)
    if direction in ("left", "right"):
        amount = amount if amount is not None else (360.0 if action == "spin" else 90.0)
        return direction, amount if direction == "left" else -amount
    if direction == "toward" or (direction is None and key == "face"):
        return direction, 0.0
    direction = "around" if direction in (None, "around", "backward", "forward") else direction
    return direction, amount if amount is not None else (360.0 if action == "spin" else 180.0)


# ----------------------------------------------------------------------------- noise and subject

_KEYBOARD = re.compile(r"(asdf|sdfg|qwer|wert|zxcv|hjkl|jkl;|uiop|ghjk|dfgh|xcvb)")


def _looks_like_noise(words: list[str]) -> bool:
    real = [w for w in words if w not in lx.DETERMINERS and w not in lx.PRONOUNS and w not in lx.CONNECTIVES]
    if not real:
        return True
    for w in real:
        if w in lx.NOISE_WORDS or _KEYBOARD.search(w) or not re.search(r"[aeiouy]", w) \
                or re.search(r"[^aeiouy\W\d]{5,}", w) or re.fullmatch(r"[\d.]+", w) or re.search(r"(.)\1\1", w):
            continue
        return False
    return True


def _strip_leading(tokens: list[_Token]) -> list[_Token]:
    i = 0
    while i < len(tokens) and tokens[i].word in lx.CONNECTIVES - {"to"}:
        i += 1
    return tokens[i:]


_AUXILIARIES = {"is", "are", "was", "were", "will", "should", "must", "can", "could", "would", "be",
                "slowly", "quickly", "now", "then", "starts", "begins", "to", "keeps", "continues", "tries"}


def _subject_span(tokens: list[_Token], upto: int, text: str) -> str | None:
    toks = _strip_leading(tokens[:upto])
    while toks and toks[-1].word in _AUXILIARIES:
        toks = toks[:-1]
    while toks and (toks[-1].word in lx.SLOW_WORDS | lx.FAST_WORDS | lx.INTENSIFIERS | {"then", "now", "also", "first"}):
        toks = toks[:-1]
    if not toks or (len(toks) == 1 and toks[0].word in lx.PRONOUNS) or len(toks) > 5:
        return None
    if toks[0].word in lx.DETERMINERS or text[toks[0].start].isupper():
        return text[toks[0].start:toks[-1].end]
    return None


def _is_fragment(tokens: list[_Token]) -> bool:
    """A clause without its own verb: "slowly", "for 2 seconds", "to the fountain"."""
    filler = (lx.SLOW_WORDS | lx.FAST_WORDS | lx.INTENSIFIERS | lx.CONNECTIVES | set(lx.DIRECTION_WORDS)
              | _TOWARD_PREPS | _AT_PREPS | {"for", "seconds", "second", "frames", "frame", "s", "f", "briefly",
                                                "meters", "metres", "m", "steps", "again", "too", "once", "more", "twice", "thrice", "times",
                                                "all", "way", "time", "while", "long", "moment", "bit"})
    words = [t.word for t in tokens]
    if any(_match_verb_at(tokens, i) for i in range(len(tokens))):
        return False
    if words and words[0] in (_TOWARD_PREPS | _AT_PREPS | {"for", "around", "across", "through"}):
        return True
    return all(w in filler or w in lx.NUMBER_WORDS or re.fullmatch(r"[\d.]+|°", w) for w in words)


def _unknown_action_text(tokens: list[_Token], text: str, subject: str | None) -> str:
    toks = _strip_leading(tokens)
    if toks and toks[0].word in lx.PRONOUNS:
        toks = toks[1:]
    elif subject and toks:
        sub = _tokens(subject)
        if [t.word for t in toks[:len(sub)]] == [t.word for t in sub]:
            toks = toks[len(sub):]
    if toks and toks[0].word in lx.DETERMINERS and len(toks) > 2:
        toks = toks[2:]
    elif len(toks) > 1 and toks[0].word in lx.SCENE_NOUNS and _VERB_FORM.search(toks[1].word):
        toks = toks[1:]  # "robot breakdances": a subject without its article
    if not toks:
        return ""
    words = text[toks[0].start:toks[-1].end].lower()
    words = _COUNT.sub(" ", _DURATION.sub(" ", words))  # "breakdances for 2 seconds" -> "breakdances"
    return " ".join(words.split())


_FOLLOWS_VERBS = lx.DETERMINERS | lx.PRONOUNS | _TOWARD_PREPS | _AT_PREPS | set(lx.DIRECTION_WORDS) | \
    {"around", "across", "through", "away", "up", "down", "off", "out", "again", "over"}
_COUNT_WORDS = {"once", "twice", "thrice"} | set(lx.NUMBER_WORDS)
_VERB_FORM = re.compile(r"^[a-z]{2,}(?:(?<![su])s|ed|ing)$")  # "levitates", "vanished", "yodelling"


def _looks_like_verb(phrase: str, targets: _Targets) -> bool:
    """Whether the first word of a clause outside the lexicon can be its verb: a verb form
    ("levitates", "vanished", "yodelling"), or a bare word that is not a thing in the scene and is
    followed by what follows verbs (nothing, an adverb, a preposition, an article). "fountain
    please" and "big fountain" have no verb."""
    words = phrase.split()
    head, nxt = words[0].split("-")[-1], (words[1] if len(words) > 1 else "")  # "high-fives": "fives"
    if head in lx.SCENE_NOUNS or head in lx.CAMERA_NOUNS or head in lx.NUMBER_WORDS or \
            head in lx.DIRECTION_WORDS or targets.match(words[0], fuzzy=False) or not head.isalpha():
        return False
    if _VERB_FORM.search(head) or _other_verb(head):
        return True
    return not nxt or nxt in _FOLLOWS_VERBS or nxt.endswith("ly")


# ----------------------------------------------------------------------------- timing

def _merge_simultaneous(actions: list[_Action]) -> list[_Action]:
    """Fold clauses joined by "while" / "at the same time" into one, refusing impossible pairs."""
    out: list[_Action] = []
    for a in actions:
        if a.joiner == "while" and out:
            b = out[-1]
            moving = [x for x in (a, b) if x.category == "locomotion"]
            if len(moving) == 2 and (a.action != b.action or a.direction != b.direction):
                raise InstructionError(f'"{b.text}" and "{a.text}" cannot happen at the same time.',
                                       [f"{b.text}, then {_SAME_TIME.sub('', a.text).strip()}"])
            if len(moving) == 1 and any(x.category == "idle" or x.still for x in (a, b)):
                raise InstructionError(f'"{b.text}" and "{a.text}" contradict each other: the character '
                                       'cannot stay still and move at the same time.', [f"{b.text}, then {a.text}"])
            keep = moving[0] if moving else (b if b.category != "idle" else a)
            keep = _Action(**{**keep.__dict__})
            keep.text = f"{b.text} while {a.text}"
            keep.frames = b.frames if b.frames is not None else a.frames
            keep.joiner = b.joiner
            out[-1] = keep
            continue
        if a.joiner == "and" and out:
            b = out[-1]
            pair = {a.category, b.category}
            if "locomotion" in pair and ((a.category == "idle" and a.still) or (b.category == "idle" and b.still)):
                raise InstructionError(f'"{b.text}" and "{a.text}" contradict each other: the character '
                                       'cannot stand still and move.', [f"{b.text}, then {a.text}"])
        out.append(a)
    return out


def _assign_frames(actions: list[_Action], num_frames: int) -> list[tuple[int, int]]:
    """Contiguous [start, end) per action covering [0, num_frames): explicit frames first, the
    rest shared by weight."""
    if len(actions) > num_frames:
        raise InstructionError(f"{len(actions)} actions do not fit in a {num_frames}-frame shot; use more frames.")
    fixed = sum(a.frames for a in actions if a.frames is not None)
    free = [a for a in actions if a.frames is None]
    if fixed + len(free) > num_frames:
        raise InstructionError(
            f"the durations asked for add up to {fixed} frames but the shot has {num_frames}; "
            f"lengthen the shot (--frames {fixed + len(free)}) or shorten the durations.")
    lengths = [float(a.frames) if a.frames is not None else 0.0 for a in actions]
    remaining = num_frames - fixed
    total_w = sum(a.weight for a in free)
    if free:
        for n, a in enumerate(actions):
            if a.frames is None:
                lengths[n] = remaining * a.weight / total_w
    bounds, acc, start = [], 0.0, 0
    for n, length in enumerate(lengths):
        acc += length
        end = num_frames if n == len(lengths) - 1 else int(round(acc))
        end = max(end, start + 1)
        end = min(end, num_frames - (len(lengths) - 1 - n))
        bounds.append((start, end))
        start = end
    return bounds


def _character_verb_index(tokens: list[_Token]) -> int | None:
    """In a camera clause, the token where the character's own action starts, if any
    ("zoom in on the robot waving" -> "waving")."""
    for i in range(len(tokens)):
        m = _match_verb_at(tokens, i)
        if m and m[0] not in lx.CAMERA_VERBS and (i == 0 or tokens[i - 1].word not in lx.CAMERA_NOUNS):
            return i
    return None


def _has_direction(tokens: list[_Token]) -> bool:
    return any(t.word in lx.DIRECTION_WORDS or t.word in _TOWARD_PREPS | {"around", "across"} for t in tokens)


def _extend_with_fragment(prev: _Action, clause: _Clause, targets: _Targets, fps: float) -> list[_Action]:
    """A clause without a verb continues the previous one: "then right for 30 frames" repeats its
    verb as a new segment; "slowly" or "for 2 seconds" after a comma modifies it."""
    has_dir = _has_direction(clause.tokens)
    repeat = clause.joiner == "then" or (clause.joiner == "comma" and has_dir and prev.explicit_direction)
    if repeat and prev.verb_text:
        text = f"{prev.verb_text} {clause.text}"
        joiner = clause.joiner
    else:
        text, joiner = f"{prev.text} {clause.text}", prev.joiner
    merged = _Clause(text, _tokens(text), joiner)
    verb = _find_verb(merged.tokens)
    if verb is None:
        return [prev]
    new = _parse_action(merged, verb, targets, fps)
    if repeat and not has_dir:
        for a in new:
            a.direction, a.target = prev.direction, prev.target
    if repeat:
        new[0].text = clause.text
        return [prev] + new
    return new


# ----------------------------------------------------------------------------- parse

def parse(text: str, targets=(), num_frames: int = 93, fps: float = 25.0, camera: str | None = None) -> Plan:
    """Read an instruction into a timed `Plan` (see module docstring; JSON in docs/PLAN.md).

    `targets`: anchor names placed by the user (an iterable or a dict name -> position).
    `camera`: the user's camera choice (one of CAMERA_BEHAVIOURS),
    which wins over the text. Raises InstructionError (with `.suggestions`) for empty, unusable
    or contradictory text and for targets that do not exist."""
    if not isinstance(text, str):
        raise InstructionError("the instruction must be text.", EXAMPLES[:3])
    if int(num_frames) < 1:
        raise InstructionError(f"a shot needs at least one frame (got {num_frames}).")
    if not fps or fps <= 0:
        raise InstructionError(f"fps must be positive (got {fps}).")
    if camera is not None and camera not in CAMERA_BEHAVIOURS:
        raise InstructionError(f'unknown camera behaviour "{camera}"; use one of {", ".join(CAMERA_BEHAVIOURS)}.')
    num_frames = int(num_frames)
    index = _Targets(targets)
    if not _tokens(text) or not re.search(r"[A-Za-z]", text):
        raise InstructionError("the instruction is empty: describe what the character does.", EXAMPLES[:3])

    actions: list[_Action] = []
    cameras: list[CameraPlan] = []
    subject: str | None = None
    pending_fragment: list[_Clause] = []
    unknown: list[str] = []
    warnings: list[str] = []
    clauses = _split_clauses(text)
    for number, clause in enumerate(clauses):
        toks = clause.tokens
        if _is_camera_clause(clause.text):
            moves = _camera_moves(clause.text)
            char_at = _character_verb_index(toks)
            cameras.extend(moves)
            if not moves and char_at is None and re.search(r"\b(camera|cam)\b", clause.text, re.I):
                raise InstructionError(f'"{clause.text}": what should the camera do?',
                                       ["camera follows", "camera orbits left", "static camera", "dolly in", "pan right"])
            if char_at is None:
                if not moves:
                    warnings.append(f'ignored "{clause.text}": it names no camera move and no action.')
                continue
            rest_text = clause.text[toks[char_at].start:]  # "tracking shot of the robot sprinting"
            clause = _Clause(rest_text, _tokens(rest_text), clause.joiner)
            toks = clause.tokens
        if _is_fragment(toks):
            if actions:
                actions[-1:] = _extend_with_fragment(actions[-1], clause, index, fps)
                continue
            pending_fragment.append(clause)
            continue
        if pending_fragment:
            joined = " ".join(c.text for c in pending_fragment) + " " + clause.text
            clause = _Clause(joined, _tokens(joined), clause.joiner)
            pending_fragment = []
            toks = clause.tokens
        verb = _find_verb(toks)
        if verb is None:
            verb = _fuzzy_verb(toks)
            if verb is not None:
                warnings.append(f'read "{toks[verb[0]].word}" as "{verb[1]}".')
        if verb is None:
            words = [t.word for t in _strip_leading(toks)]
            noun_phrase = words and words[0] in lx.DETERMINERS and (
                len(words) == 2 or len(words) == 3 and not re.search(r"(s|ed|ing)$", words[-1]))
            if noun_phrase or (len(words) == 1 and words[0] in lx.SCENE_NOUNS and number < len(clauses) - 1):
                if subject is None and not actions and number < len(clauses) - 1:
                    subject = clause.text  # "The robot: walks forward"
                else:
                    unknown.append(clause.text)  # a noun phrase alone is not an action
                continue
            if _looks_like_noise(words):
                unknown.append(clause.text)
                continue
            lead = _strip_leading(toks)
            if subject is None and not actions and len(lead) > 2 and lead[0].word in lx.DETERMINERS:
                subject = clause.text[lead[0].start:lead[1].end]
            phrase = _unknown_action_text(toks, clause.text, subject)
            if not phrase or not _looks_like_verb(phrase, index):
                unknown.append(clause.text)
                continue
            frames, factor = _duration_frames(clause.text.lower(), fps)
            count = _count(clause.text.lower())
            warnings.append(f'"{phrase.split()[0]}" is not a verb AniX knows: kept as a gesture in place '
                            f'("{phrase}"); the character does not travel.')
            actions.append(_Action("gesture", phrase, None, 0.0, None, 0.0, clause.text, frames,
                                   1.5 * factor * _count_weight(count), joiner=clause.joiner, verb_text=phrase,
                                   count=count))
            continue
        if subject is None and not actions:
            subject = _subject_span(toks, verb[0], clause.text)
        actions.extend(_parse_action(clause, verb, index, fps))

    if not actions and not cameras:
        what = f' ("{unknown[0]}" has no verb)' if unknown and unknown[0].strip() else ""
        raise InstructionError(f"no action found in the instruction{what}: describe what the character does.",
                               EXAMPLES[:3])
    warnings.extend(f'ignored "{u}": it has no verb.' for u in unknown if u.strip())
    warnings.extend(f'ignored "{c.text}": it says no action.' for c in pending_fragment)
    text_camera = _combine_camera_moves(cameras)
    actions = _merge_simultaneous(actions)
    if not actions or all(a.frames is not None for a in actions) and sum(a.frames for a in actions) < num_frames:
        actions.append(_Action("idle", "stand", None, 0.0, None, 0.0, "", None, 1.0))
    bounds = _assign_frames(actions, num_frames)
    segments = [Segment(a.category, a.action, a.direction, a.speed_mps, s, e, a.target, a.turn_deg, a.text, a.count)
                for a, (s, e) in zip(actions, bounds)]
    if text_camera is not None:
        cam_plan = text_camera
    elif any(s.category == "locomotion" for s in segments):
        cam_plan = default_camera("follow")
    else:
        cam_plan = default_camera("static")
    if camera is not None:
        cam_plan = (CameraPlan(camera, dict(cam_plan.params), True) if camera == cam_plan.behaviour
                    else CameraPlan(camera, default_camera(camera).params, True))
    return Plan(text=text, segments=segments, camera=cam_plan, num_frames=num_frames, fps=float(fps), subject=subject,
                warnings=warnings)
