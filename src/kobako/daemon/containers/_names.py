"""Random container names in Docker's adjective_surname style, and name validation."""

from __future__ import annotations

import random
import re

from kobako.errors import InvalidArgument

_LEFT = (
    "admiring adoring affectionate agitated amazing angry awesome blissful bold boring brave busy charming "
    "clever compassionate competent condescending confident cool cranky crazy dazzling determined distracted "
    "dreamy eager ecstatic elastic elated elegant eloquent epic exciting fervent festive flamboyant focused "
    "friendly frosty funny gallant gifted goofy gracious great happy hardcore heuristic hopeful hungry "
    "infallible inspiring intelligent interesting jolly jovial keen kind laughing loving lucid magical "
    "modest musing mystifying naughty nervous nice nifty nostalgic objective optimistic peaceful pedantic "
    "pensive practical priceless quirky quizzical relaxed reverent romantic sad serene sharp silly sleepy "
    "stoic strange stupefied suspicious sweet tender thirsty trusting unruffled upbeat vibrant vigilant "
    "vigorous wizardly wonderful xenodochial youthful zealous zen"
).split()
_RIGHT = (
    "agnesi albattani allen almeida archimedes ardinghelli aryabhata austin babbage banach bardeen bartik "
    "bassi bell benz bhabha bohr booth borg bose brahmagupta brattain brown buck burnell cannon carson cerf "
    "chandrasekhar chaplygin chatelet chatterjee chebyshev clarke cohen colden cori cray curie darwin "
    "davinci dijkstra dirac driscoll dubinsky easley edison einstein elion engelbart euclid euler fermat "
    "fermi feynman franklin galileo gates goldberg goldstine golick goodall hamilton haslett hawking "
    "heisenberg hermann hodgkin hoover hopper hugle hypatia jackson jang jennings jepsen johnson joliot "
    "jones kalam kare keller kepler khorana kilby kirch knuth kowalevski lalande lamarr lamport leakey "
    "leavitt lewin lichterman liskov lovelace lumiere mahavira mayer mccarthy mcclintock mclean mcnulty "
    "meitner mendel mestorf minsky mirzakhani morse moser napier nash neumann newton nightingale nobel "
    "noether northcutt noyce panini pare pasteur payne perlman pike poincare poitras ptolemy raman "
    "ramanujan ride ritchie roentgen rosalind saha sammet shamir shannon shaw shirley shockley sinoussi "
    "snyder spence stonebraker sutherland swanson swartz swirles taussig tesla thompson torvalds turing "
    "varahamihira visvesvaraya volhard wescoff wiles williams wilson wing wozniak wright yalow yonath"
).split()

_VALID = re.compile(r"^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$")


def random_name(taken: set[str] | dict[str, str]) -> str:
    for _ in range(100):
        name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}"
        if name not in taken:
            return name
    while True:
        name = f"{random.choice(_LEFT)}_{random.choice(_RIGHT)}{random.randint(0, 99)}"
        if name not in taken:
            return name


def validate_name(name: str) -> str:
    if not _VALID.match(name):
        raise InvalidArgument(f"Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed")
    return name.lstrip("/")
