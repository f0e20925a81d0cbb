"""The curated vocabulary behind `anix_core.instructions`: verbs, their category and canonical
action, walking speeds, and the small word lists (directions, speed adverbs, camera words).

Speeds (metres per second) of the canonical gaits, after typical human values:

| action | m/s | synonyms that share the gait (with their own speed) |
|---|---|---|
| walk   | 1.4 | stroll/amble/saunter/wander/meander 1.1, march 1.5, stride 1.6, go/move/head/come 1.4, step 1.0, shuffle 0.6 |
| jog    | 2.5 | trot 2.5, hurry/scurry/scamper 2.8 |
| run    | 3.5 | rush/chase 4.0, flee 4.5, charge 5.0 |
| sprint | 6.0 | dash/race/bolt/zoom 6.0 |
| sneak  | 0.7 | tiptoe/creep/sneak/prowl/stalk |
| limp   | 0.8 | limp/stagger/stumble/hobble |
| hop / skip / jump (directed) | 1.2 / 2.0 / 1.5 | |
| crawl  | 0.5 | crawl |

"slowly" and friends scale a speed by 0.7 ("very slowly" 0.5), "quickly" and friends by 1.3
("very quickly" 1.6).
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verb:
    """One lexicon entry. `direction` is implied by the verb itself ("retreat" -> backward),
    `weight` is its default share of the shot relative to other clauses, `moves_if_directed`
    turns an in-place action into locomotion when a direction is given ("hops forward")."""

    category: str
    action: str
    speed_mps: float = 0.0
    direction: str | None = None
    turn_deg: float = 0.0
    weight: float = 1.5
    moves_if_directed: bool = False


def _loco(action: str, speed: float, direction: str | None = None, weight: float = 3.0) -> Verb:
    return Verb("locomotion", action, speed, direction, weight=weight)


def _gest(action: str, weight: float = 1.5, direction: str | None = None, turn_deg: float = 0.0,
          moves: bool = False) -> Verb:
    return Verb("gesture", action, 0.0, direction, turn_deg, weight, moves)


def _obj(action: str, weight: float = 2.5) -> Verb:
    return Verb("object", action, 0.0, None, weight=weight)


def _idle(action: str = "stand", weight: float = 1.5) -> Verb:
    return Verb("idle", action, 0.0, None, weight=weight)


# Keys are base forms; multi-word keys are matched as adjacent words ("pick up").
VERBS: dict[str, Verb] = {
    # --- locomotion: walk family
    "walk": _loco("walk", 1.4), "stroll": _loco("walk", 1.1), "amble": _loco("walk", 1.1),
    "saunter": _loco("walk", 1.1), "wander": _loco("walk", 1.1), "meander": _loco("walk", 1.1),
    "mosey": _loco("walk", 1.1), "march": _loco("walk", 1.5), "stride": _loco("walk", 1.6),
    "pace": _loco("walk", 1.3), "go": _loco("walk", 1.4), "move": _loco("walk", 1.4),
    "head": _loco("walk", 1.4), "come": _loco("walk", 1.4), "travel": _loco("walk", 1.4),
    "proceed": _loco("walk", 1.4), "advance": _loco("walk", 1.4, "forward"),
    "approach": _loco("walk", 1.4, "toward"), "return": _loco("walk", 1.4, "toward"),
    "reach": _loco("walk", 1.4, "toward"), "cross": _loco("walk", 1.4),
    "step": _loco("walk", 1.0, weight=1.5), "shuffle": _loco("walk", 0.6),
    "waddle": _loco("walk", 0.9), "trudge": _loco("walk", 1.0), "plod": _loco("walk", 1.0),
    "retreat": _loco("walk", 1.2, "backward"), "back up": _loco("walk", 1.0, "backward"),
    "back away": _loco("walk", 1.0, "backward"), "step back": _loco("walk", 1.0, "backward", 1.5),
    "step forward": _loco("walk", 1.0, "forward", 1.5), "sidestep": _loco("walk", 1.0),
    "strafe": _loco("walk", 1.2), "patrol": _loco("walk", 1.3), "hike": _loco("walk", 1.3),
    "walk backwards": _loco("walk", 1.0, "backward"), "moonwalk": _loco("walk", 1.0, "backward"),
    # jog / run / sprint
    "jog": _loco("jog", 2.5), "trot": _loco("jog", 2.5), "hurry": _loco("jog", 2.8),
    "scurry": _loco("jog", 2.8), "scamper": _loco("jog", 2.8), "lope": _loco("jog", 2.8),
    "run": _loco("run", 3.5), "rush": _loco("run", 4.0), "chase": _loco("run", 4.0),
    "flee": _loco("run", 4.5), "charge": _loco("run", 5.0), "gallop": _loco("run", 4.0),
    "sprint": _loco("sprint", 6.0), "dash": _loco("sprint", 6.0), "race": _loco("sprint", 6.0),
    "bolt": _loco("sprint", 6.0), "zoom": _loco("sprint", 6.0),
    # slang and vivid verbs of going somewhere ("legs it", "books it", "scarpers")
    "leg it": _loco("run", 4.0), "book it": _loco("run", 4.0), "peg it": _loco("run", 4.0),
    "hightail": _loco("run", 4.0), "hightail it": _loco("run", 4.0), "hotfoot": _loco("run", 4.0),
    "hotfoot it": _loco("run", 4.0), "scarper": _loco("run", 4.0), "skedaddle": _loco("run", 4.0),
    "scram": _loco("run", 4.0), "barrel": _loco("run", 4.5), "hurtle": _loco("sprint", 6.0),
    "careen": _loco("run", 4.5), "dart": _loco("sprint", 6.0), "streak": _loco("sprint", 6.0),
    "tear off": _loco("sprint", 6.0), "make a break": _loco("run", 4.0), "make a dash": _loco("sprint", 6.0),
    "hoof it": _loco("walk", 1.4), "make tracks": _loco("walk", 1.5), "hustle": _loco("jog", 2.8),
    "scoot": _loco("jog", 2.5), "scuttle": _loco("jog", 2.8), "skitter": _loco("jog", 2.8),
    "bound": _loco("jog", 3.0), "strut": _loco("walk", 1.3), "swagger": _loco("walk", 1.2),
    "sashay": _loco("walk", 1.2), "traipse": _loco("walk", 1.1), "toddle": _loco("walk", 0.9),
    "lumber": _loco("walk", 1.0), "tramp": _loco("walk", 1.2), "schlep": _loco("walk", 1.0),
    # other gaits
    "sneak": _loco("sneak", 0.7), "tiptoe": _loco("sneak", 0.7), "creep": _loco("sneak", 0.7),
    "prowl": _loco("sneak", 0.7), "stalk": _loco("sneak", 0.8), "slink": _loco("sneak", 0.7),
    "limp": _loco("limp", 0.8), "hobble": _loco("limp", 0.8), "stagger": _loco("limp", 0.9),
    "stumble": _loco("limp", 0.9), "skip": _loco("skip", 2.0), "crawl": _loco("crawl", 0.5), "circle": _loco("walk", 1.4, "around"),
    "leap forward": _loco("jump", 1.5, "forward"),
    "hop": _gest("hop", moves=True), "jump": _gest("jump", moves=True),
    "leap": _gest("jump", moves=True), "bounce": _gest("jump", moves=True),
    # --- turning in place (a gesture for the camera rule: the root stays put)
    "turn": _gest("turn", 1.0, "around", 180.0), "turn around": _gest("turn", 1.0, "around", 180.0),
    "turn back": _gest("turn", 1.0, "around", 180.0), "about face": _gest("turn", 1.0, "around", 180.0),
    "rotate": _gest("turn", 1.0, "around", 180.0), "pivot": _gest("turn", 1.0, "around", 180.0),
    "face": _gest("turn", 1.0, None, 0.0), "spin": _gest("spin", 1.5, "around", 360.0),
    "spin around": _gest("spin", 1.5, "around", 360.0), "twirl": _gest("spin", 1.5, "around", 360.0),
    "pirouette": _gest("spin", 1.5, "around", 360.0),
    # --- gestures
    "wave": _gest("wave"), "wave goodbye": _gest("wave"), "wave hello": _gest("wave"),
    "greet": _gest("wave"), "beckon": _gest("wave"), "bow": _gest("bow"), "curtsy": _gest("bow"),
    "nod": _gest("nod", 1.0), "shake head": _gest("shake head", 1.0), "point": _gest("point"),
    "gesture": _gest("point"), "clap": _gest("clap"), "applaud": _gest("clap"),
    "cheer": _gest("cheer"), "celebrate": _gest("celebrate"), "fist pump": _gest("cheer"),
    "salute": _gest("salute"), "dance": _gest("dance", 2.5), "boogie": _gest("dance", 2.5),
    "stretch": _gest("stretch", 2.0), "look": _gest("look"), "look around": _gest("look", 2.0, "around"),
    "glance": _gest("look", 1.0), "stare": _gest("look"), "gaze": _gest("look"), "peek": _gest("look", 1.0),
    "watch": _gest("look"), "scan": _gest("look", 2.0, "around"), "shrug": _gest("shrug", 1.0),
    "kneel": _gest("kneel"), "kneel down": _gest("kneel"), "crouch": _gest("crouch"),
    "crouch down": _gest("crouch"), "squat": _gest("crouch"), "duck": _gest("crouch", 1.0),
    "hide": _gest("crouch"), "cower": _gest("crouch"), "tumble": _gest("fall"),
    "keel over": _gest("fall"), "crane neck": _gest("look"),
    "stand up": _gest("stand up"), "get up": _gest("stand up"), "rise": _gest("stand up"),
    "lie down": _gest("lie down", 2.0), "fall": _gest("fall"), "fall down": _gest("fall"),
    "collapse": _gest("fall"), "trip": _gest("fall", 1.0), "punch": _gest("punch"), "box": _gest("punch", 2.0),
    "fight": _gest("fight", 2.5), "kick": Verb("object", "kick", weight=1.5),
    "laugh": _gest("laugh"), "cry": _gest("cry"), "sob": _gest("cry"), "yawn": _gest("yawn"),
    "sneeze": _gest("sneeze", 1.0), "cough": _gest("cough", 1.0), "scratch head": _gest("scratch head"),
    "think": _gest("think"), "ponder": _gest("think"), "raise hand": _gest("raise hand"),
    "raise hands": _gest("raise hand"), "raise arm": _gest("raise hand"), "raise arms": _gest("raise hand"),
    "hands up": _gest("raise hand"), "flex": _gest("flex"), "pose": _gest("pose"),
    "meditate": _gest("meditate", 2.5), "pray": _gest("pray", 2.0), "sing": _gest("sing", 2.0),
    "talk": _gest("talk", 2.0), "speak": _gest("talk", 2.0), "shout": _gest("shout"), "yell": _gest("shout"),
    "scream": _gest("shout"), "whistle": _gest("whistle"), "shiver": _gest("shiver"),
    "tremble": _gest("shiver"), "breathe": _gest("breathe"), "sigh": _gest("sigh", 1.0),
    "blink": _gest("blink", 1.0), "smile": _gest("smile", 1.0), "frown": _gest("frown", 1.0),
    "jump up and down": _gest("jump"), "do jumping jacks": _gest("jumping jacks", 2.5),
    "hug": _gest("hug"), "tap foot": _gest("tap foot"), "stomp": _gest("stomp"),
    "bend down": _gest("crouch"), "bend over": _gest("crouch"), "lean": _gest("lean"),
    "somersault": _gest("flip", 2.0), "flip": _gest("flip", 2.0), "backflip": _gest("flip", 2.0),
    "cartwheel": _gest("flip", 2.0), "kneel and pray": _gest("pray", 2.0),
    # --- object-centric
    "pick up": _obj("pick up"), "lift": _obj("pick up"), "grab": _obj("pick up"), "take": _obj("pick up"),
    "put down": _obj("put down"), "drop": _obj("put down"), "place": _obj("put down"), "set down": _obj("put down"),
    "sit": _obj("sit"), "sit down": _obj("sit"), "sit on": _obj("sit"), "take a seat": _obj("sit"),
    "open": _obj("open"), "close": _obj("close"), "shut": _obj("close"), "push": _obj("push"),
    "shove": _obj("push"), "pull": _obj("pull"), "drag": _obj("pull"), "drink": _obj("drink"),
    "sip": _obj("drink"), "eat": _obj("eat"), "bite": _obj("eat"), "throw": _obj("throw"),
    "toss": _obj("throw"), "catch": _obj("catch"), "carry": _obj("carry"), "hold": _obj("hold"),
    "climb": _obj("climb", 3.0), "lean on": _obj("lean on"), "touch": _obj("touch"), "knock": _obj("knock"),
    "type": _obj("type"), "read": _obj("read"), "write": _obj("write"), "sweep": _obj("sweep"),
    "dig": _obj("dig"), "wash": _obj("wash"), "pour": _obj("pour"), "play": _obj("play"),
    "juggle": _obj("juggle"), "hammer": _obj("hammer"), "swing": _obj("swing"), "pet": _obj("pet"),
    "feed": _obj("feed"), "ring": _obj("ring"), "fill": _obj("fill"), "inspect": _obj("inspect"),
    "examine": _obj("inspect"), "photograph": _obj("photograph"), "lie on": _obj("lie on"),
    # --- idle
    "stand": _idle(), "stand still": _idle(), "stay": _idle(), "stay still": _idle(),
    "wait": _idle("wait"), "idle": _idle("idle"), "pause": _idle("wait", 1.0), "rest": _idle("rest"),
    "remain": _idle(), "linger": _idle("wait"), "freeze": _idle(), "hover": _idle("idle"),
    "do nothing": _idle("idle"), "stop": _idle("stand", 1.0), "halt": _idle("stand", 1.0),
    "breathe idly": _idle("idle"), "relax": _idle("rest"),
}

# Past tenses and participles that the regular rules do not produce.
IRREGULAR = {
    "ran": "run", "sat": "sit", "stood": "stand", "went": "go", "gone": "go", "took": "take",
    "taken": "take", "threw": "throw", "thrown": "throw", "caught": "catch", "drank": "drink",
    "drunk": "drink", "ate": "eat", "eaten": "eat", "came": "come", "fell": "fall", "fallen": "fall",
    "lay": "lie", "lying": "lie", "held": "hold", "leapt": "leap", "knelt": "kneel", "crept": "creep",
    "snuck": "sneak", "spun": "spin", "fought": "fight", "shook": "shake", "swept": "sweep",
    "dug": "dig", "got": "get", "rose": "rise", "risen": "rise", "strode": "stride", "swung": "swing",
    "sang": "sing", "sung": "sing", "spoke": "speak", "spoken": "speak", "wrote": "write",
    "written": "write", "fled": "flee", "rang": "ring", "bitten": "bite", "hid": "hide",
    "hidden": "hide", "tore": "tear", "torn": "tear", "made": "make",
}

# Words that start a noun phrase and so are never the verb of a clause.
DETERMINERS = {"the", "a", "an", "my", "our", "his", "her", "its", "their", "this", "that",
               "these", "those", "your", "some", "one"}
PRONOUNS = {"he", "she", "it", "they", "we", "i", "you", "him", "them", "me", "us"}
# Verbs that only carry another ("goes for a run", "starts to walk"): prefer the verb after them.
LIGHT_VERBS = {"go", "take", "do", "make", "have", "give", "start", "begin", "keep", "continue",
               "try", "decide", "proceed", "come", "get", "stop"}
# Leading words of a clause that only sequence it.
CONNECTIVES = {"first", "firstly", "then", "and", "next", "finally", "lastly", "afterwards",
               "afterward", "after", "that", "now", "also", "so", "later", "eventually", "once",
               "suddenly", "immediately", "subsequently", "before", "soon", "meanwhile", "ok", "okay",
               "please", "just", "again", "second", "third", "to"}

DIRECTION_WORDS = {
    "forward": "forward", "forwards": "forward", "ahead": "forward", "straight": "forward",
    "onward": "forward", "onwards": "forward",
    "backward": "backward", "backwards": "backward", "back": "backward", "reverse": "backward",
    "left": "left", "leftward": "left", "leftwards": "left", "right": "right",
    "rightward": "right", "rightwards": "right", "around": "around", "round": "around",
    "circle": "around", "circles": "around", "circling": "around",
}
OPPOSITE = {"forward": "backward", "backward": "forward", "left": "right", "right": "left"}

SLOW_WORDS = {"slowly", "slow", "gently", "leisurely", "calmly", "carefully", "casually",
              "lazily", "cautiously", "quietly", "softly", "steadily", "sluggishly", "gradually", "tiredly", "wearily"}
FAST_WORDS = {"quickly", "fast", "rapidly", "swiftly", "briskly", "hurriedly", "speedily",
              "energetically", "urgently", "hastily", "faster", "quick"}
INTENSIFIERS = {"very", "really", "extremely", "super", "so"}
STILL_WORDS = {"still", "motionless", "stationary", "unmoving"}

# Lexicon verbs that, in a camera clause, describe the camera rather than the character.
CAMERA_VERBS = {"circle", "pull", "push", "move", "rotate", "spin", "spin around", "zoom", "close", "stay",
                "stay still", "remain", "stand", "stand still", "stop", "halt", "go", "come", "approach",
                "turn", "turn around", "hold", "freeze", "sweep", "swing", "rise", "fall", "step back",
                "back up", "back away", "advance", "retreat", "travel", "cross", "face", "look", "watch",
                "lean", "drop", "duck", "linger", "proceed", "head", "return", "hover", "rest", "idle",
                "wait", "pause", "race", "hurry", "chase", "glide", "stalk", "pace", "frame", "keep",
                "start", "begin", "reach", "slide", "hug"}

# Words that name the camera in a clause.
CAMERA_NOUNS = {"camera", "cam", "shot", "view", "lens", "cameraman", "viewpoint"}
# Words that, as a goal ("walks toward the camera"), mean the shot's camera.
CAMERA_TARGET_WORDS = {"camera", "cam", "viewer", "us", "me", "lens", "audience", "screen"}

# Common English verbs that are not actions of the lexicon ("feels dizzy", "is happy", "wants to
# run"): never read as a misspelling of a lexicon verb ("feels" is not "flees"), and a clause led
# by one is kept as the user's words with a warning.
OTHER_VERBS = {"be", "is", "are", "am", "was", "were", "been", "being", "feel", "seem", "become", "want",
               "like", "love", "hate", "need", "know", "see", "hear", "say", "tell", "ask", "let", "use",
               "find", "leave", "call", "show", "bring", "happen", "appear", "grow", "lose", "meet", "learn",
               "change", "lead", "understand", "allow", "add", "spend", "win", "offer", "remember", "consider",
               "buy", "send", "expect", "build", "fly", "float", "levitate", "glide", "skate", "ski", "swim",
               "slide", "slip", "roll", "fix", "sew", "cook", "paint", "draw", "seek", "search", "hunt",
               "smell", "taste", "hum", "chant", "mumble", "whisper", "grin", "wink", "pout", "sulk",
               "fidget", "vanish", "teleport", "transform", "explode", "glow", "shine", "melt",
               "fade", "faint", "sleep", "wake", "dream", "die", "bleed", "heal", "hesitate", "panic", "worry"}

# Things found in scenes: a clause that starts with one ("fountain please") has no verb.
SCENE_NOUNS = {"fountain", "bench", "pillar", "column", "tree", "wall", "door", "window", "chair", "table",
               "statue", "car", "house", "building", "stairs", "steps", "floor", "ground", "grass", "courtyard",
               "garden", "park", "street", "road", "path", "box", "ball", "robot", "character", "man", "woman",
               "person", "guy", "girl", "boy", "dog", "cat", "big", "small", "red", "blue", "yellow", "green"}

# Strings that are clearly not an instruction.
NOISE_WORDS = {"hello", "hi", "hey", "test", "testing", "asdf", "qwerty", "lorem", "ipsum", "foo",
               "bar", "baz", "blah", "xyz", "abc", "ok", "okay", "yes", "no", "null", "none",
               "nothing", "something", "stuff", "thing", "things", "hmm", "um", "uh", "lol",
               "thanks", "please", "dolor", "sit amet", "aaa", "zzz"}

NUMBER_WORDS = {"zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
                "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
                "fifteen": 15, "twenty": 20, "thirty": 30, "forty": 40, "forty-five": 45,
                "fifty": 50, "sixty": 60, "ninety": 90, "hundred": 100, "a": 1, "an": 1,
                "half": 0.5, "couple": 2, "few": 3}


def _third_person(base: str) -> str:
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        return base + "es"
    if len(base) > 1 and base.endswith("y") and base[-2] not in "aeiou":
        return base[:-1] + "ies"
    return base + "s"


def _suffixed(base: str, suffix: str) -> set[str]:
    """base + "ing"/"ed", with the e-drop, y->i and consonant-doubling variants."""
    forms = set()
    if suffix == "ing":
        if base.endswith("ie"):
            forms.add(base[:-2] + "ying")
        elif base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
            forms.add(base[:-1] + "ing")
        else:
            forms.add(base + "ing")
    else:
        if base.endswith("e"):
            forms.add(base + "d")
        elif len(base) > 1 and base.endswith("y") and base[-2] not in "aeiou":
            forms.add(base[:-1] + "ied")
        else:
            forms.add(base + "ed")
    if (len(base) >= 3 and base[-1] not in "aeiouwxy" and base[-2] in "aeiou"
            and base[-3] not in "aeiou"):
        forms.add(base + base[-1] + suffix)
    return forms


def inflections(base: str) -> set[str]:
    """Every regular form of a one-word verb: walk, walks, walking, walked (plus doubled forms)."""
    return {base, _third_person(base)} | _suffixed(base, "ing") | _suffixed(base, "ed")


def _build_form_table() -> dict[str, str]:
    heads = {key.split()[0] for key in VERBS} | {"get", "do", "take", "shake", "lie", "set", "rise",
                                                 "scratch", "tap", "raise", "bend", "sing", "jump"}
    table: dict[str, str] = {}
    for head in sorted(heads):
        for form in inflections(head):
            table.setdefault(form, head)
    for form, base in IRREGULAR.items():
        table.setdefault(form, base)
    return table


FORM_TO_BASE = _build_form_table()


def _build_phrase_index() -> dict[str, tuple[str, ...]]:
    index: dict[str, list[str]] = {}
    for key in VERBS:
        index.setdefault(key.split()[0], []).append(key)
    return {head: tuple(sorted(keys, key=len, reverse=True)) for head, keys in index.items()}


PHRASE_INDEX = _build_phrase_index()
