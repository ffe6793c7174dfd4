"""``import open_clip`` served by clipzoo: the module map and the import hook behind ``install_as_open_clip``.

After :func:`install_as_open_clip`, ``import open_clip`` and ``from open_clip.<module> import <name>`` resolve
to clipzoo for every module open_clip 3.3.0 ships (the pattern of PyMySQL's ``install_as_MySQLdb``). Each
alias module is empty until a name is read: the name is looked up in :data:`ALIASES` and imported from the
clipzoo module that defines it, so installing the alias imports nothing heavy.

:data:`ALIASES` is the whole mapping: ``open_clip module -> {clipzoo module: "name name alias=target call()"}``,
where ``name`` is imported under the same name, ``alias=target`` under another, and ``name=target()`` is
the result of calling ``target`` (``open_clip.tokenizer._tokenizer``, a module-level tokenizer instance).
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import os
import runpy
import shutil
import sys
import types
from collections.abc import Sequence
from typing import Any

from ...errors import (
    NotAPythonProgramError,
    OpenClipConflictError,
    ProgramNotFoundError,
    UnknownNameError,
    did_you_mean,
)

OPEN_CLIP_API_VERSION = "3.3.0"  # the open_clip release whose module layout and names the alias mirrors
PACKAGE = "open_clip"
# open_clip.__file__ under the alias: this package's __init__ (the alias modules' __file__ is this file)
PACKAGE_FILE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__init__.py")

_M = "clipzoo.models"
_TR = "clipzoo.models.transformer"
_OCM = "clipzoo.compat.open_clip.modules"
_OCT = "clipzoo.compat.open_clip.tokenizer"
_OCH = "clipzoo.compat.open_clip.helpers"
_TOK = "clipzoo.tokenizers"
_HUB = "clipzoo.hub.pretrained"
_URL = "clipzoo.compat.open_clip.pretrained"  # downloads open URLs through open_clip.pretrained.urllib
_HF = "clipzoo.hub.hf"
_PRE = "clipzoo.registry.tags"
_ZSM = "clipzoo.compat.open_clip.zero_shot_metadata"  # templates as callables, as open_clip has them

# open_clip module ("" is the package itself) -> clipzoo module -> names (see the module docstring).
ALIASES: dict[str, dict[str, str]] = {
    "": {
        "clipzoo.compat.open_clip.alias": "__version__=OPEN_CLIP_API_VERSION",
        "clipzoo.factory.create": "create_model create_model_and_transforms create_model_from_pretrained",
        "clipzoo.factory.tokenizer": "get_tokenizer",
        "clipzoo.factory.preprocess_cfg": "get_model_preprocess_cfg set_model_preprocess_cfg",
        "clipzoo.training.loss": "create_loss ClipLoss DistillClipLoss CoCaLoss",
        "clipzoo.registry.architectures": "list_models add_model_config get_model_config",
        "clipzoo.checkpoint.load": "load_checkpoint",
        _M: "CoCa CLIP CustomTextCLIP convert_weights_to_lp convert_weights_to_fp16 get_cast_dtype get_input_dtype"
        " get_model_tokenize_cfg",
        "clipzoo.compat.open_clip.cfg": "CLIPTextCfg CLIPVisionCfg",
        "clipzoo.compat.open_clip.openai": "load_openai_model list_openai_models",
        _PRE: "list_pretrained list_pretrained_models_by_tag list_pretrained_tags_by_model get_pretrained_url"
        " is_pretrained_cfg get_pretrained_cfg",
        _URL: "download_pretrained_from_url",
        _HUB: "download_pretrained",
        "clipzoo.compat.open_clip.push_to_hf_hub": "push_pretrained_to_hf_hub push_to_hf_hub",
        _TOK: "tokenize decode",
        _OCT: "SimpleTokenizer",
        "clipzoo.models.jit": "trace_model",
        "clipzoo.preprocess.transforms": "image_transform AugmentationCfg",
        "clipzoo.zero_shot.classifier": "build_zero_shot_classifier",
        "clipzoo.compat.open_clip.zero_shot_legacy": "build_zero_shot_classifier_legacy",
        _ZSM: "OPENAI_IMAGENET_TEMPLATES SIMPLE_IMAGENET_TEMPLATES IMAGENET_CLASSNAMES",
        "clipzoo.constants": "OPENAI_DATASET_MEAN OPENAI_DATASET_STD",
    },
    "coca_model": {
        "clipzoo.compat.open_clip.cfg": "CLIPTextCfg CLIPVisionCfg MultimodalCfg",
        _M: "CoCa",
        "clipzoo.models.layers": "LayerNorm LayerNormFp32 QuickGELU",
        _OCM: "MultimodalTransformer",
        _OCH: "prepare_inputs_for_generation",
        "clipzoo.models.generation": "GENERATION_TYPES",
        "clipzoo.models.towers": "_build_vision_tower=build_vision_tower _build_text_tower=build_text_tower",
    },
    "constants": {
        "clipzoo.constants": "OPENAI_DATASET_MEAN OPENAI_DATASET_STD IMAGENET_MEAN IMAGENET_STD INCEPTION_MEAN"
        " INCEPTION_STD HF_WEIGHTS_NAME HF_SAFE_WEIGHTS_NAME HF_CONFIG_NAME",
    },
    "convert": {
        _M: "CLIP CustomTextCLIP",
        _OCM: "TextTransformer Transformer",
        _OCH: "convert_state_dict load_big_vision_weights convert_mobile_clip_state_dict",
    },
    "factory": {
        "clipzoo.factory.create": "create_model create_model_and_transforms create_model_from_pretrained",
        "clipzoo.factory.tokenizer": "get_tokenizer",
        "clipzoo.factory.preprocess_cfg": "set_model_preprocess_cfg",
        "clipzoo.registry.architectures": "list_models add_model_config get_model_config",
        "clipzoo.checkpoint.load": "load_checkpoint load_state_dict",
        "clipzoo.training.loss": "create_loss ClipLoss DistillClipLoss CoCaLoss SigLipLoss",
        _M: "CLIP CustomTextCLIP CoCa convert_weights_to_lp get_cast_dtype",
        "clipzoo.factory.sources": "HF_HUB_PREFIX LOCAL_DIR_PREFIX parse_model_name",
        _OCT: "HFTokenizer SigLipTokenizer=BigVisionVocabTokenizer SimpleTokenizer",
        _OCH: "convert_state_dict convert_to_custom_text_state_dict",
        "clipzoo.compat.open_clip.pos_embed": "resize_pos_embed resize_text_pos_embed",
        "clipzoo.constants": "DEFAULT_CONTEXT_LENGTH",
        _PRE: "is_pretrained_cfg get_pretrained_cfg list_pretrained_tags_by_model",
        _HUB: "download_pretrained",
        _HF: "download_pretrained_from_hf",
        "clipzoo.preprocess.transforms": "image_transform_v2 AugmentationCfg PreprocessCfg merge_preprocess_dict"
        " merge_preprocess_kwargs",
    },
    "hf_configs": {"clipzoo.compat.open_clip.hf_poolers": "arch_dict"},
    "hf_model": {
        "clipzoo.compat.open_clip.hf_poolers": "arch_dict register_pooler MeanPooler MaxPooler ClsPooler"
        " ClsLastHiddenStatePooler _POOLERS=POOLER_CLASSES",
        "transformers.modeling_outputs": "BaseModelOutput",
        "transformers": "PretrainedConfig",
        _OCM: "HFTextEncoder",
    },
    "loss": {
        "clipzoo.training.loss": "gather_features ClipLoss CoCaLoss DistillClipLoss SigLipLoss",
        "clipzoo.training.distributed": "neighbour_exchange neighbour_exchange_bidir NeighbourExchange"
        " neighbour_exchange_with_grad NeighbourExchangeBidir neighbour_exchange_bidir_with_grad",
        _OCH: "has_distributed hvd",
    },
    "model": {
        "clipzoo.compat.open_clip.cfg": "CLIPVisionCfg CLIPTextCfg",
        _M: "CLIP CustomTextCLIP get_cast_dtype get_input_dtype convert_weights_to_lp convert_weights_to_fp16"
        " get_model_tokenize_cfg",
        "clipzoo.factory.preprocess_cfg": "get_model_preprocess_cfg set_model_preprocess_cfg",
        "clipzoo.compat.open_clip.openai": "build_model_from_openai_state_dict",
        "clipzoo.compat.open_clip.pos_embed": "resize_pos_embed resize_text_pos_embed",
        "clipzoo.models.layers": "LayerNorm LayerNormFp32 QuickGELU",
        "clipzoo.models.resnet": "ModifiedResNet",
        _OCM: "Attention VisionTransformer TextTransformer TimmModel HFTextEncoder",
        _OCH: "text_global_pool lock_text_tower convert_to_custom_text_state_dict",
        "clipzoo.models.jit": "trace_model",
        "clipzoo.compat.open_clip.utils": "to_2tuple",
        # private, but research code builds towers with them
        "clipzoo.models.towers": "_build_vision_tower=build_vision_tower _build_text_tower=build_text_tower",
    },
    "modified_resnet": {
        "clipzoo.models.resnet": "Bottleneck AttentionPool2d ModifiedResNet",
        "clipzoo.compat.open_clip.utils": "freeze_batch_norm_2d",
        "clipzoo.models.intermediates": "feature_take_indices",
    },
    "openai": {
        "clipzoo.compat.open_clip.openai": "list_openai_models load_openai_model build_model_from_openai_state_dict",
        _M: "convert_weights_to_lp get_cast_dtype",
        _PRE: "get_pretrained_url list_pretrained_models_by_tag",
        _URL: "download_pretrained_from_url",
        "clipzoo.constants": "OPENAI_DATASET_MEAN OPENAI_DATASET_STD",
    },
    "pos_embed": {
        "clipzoo.compat.open_clip.pos_embed": "get_2d_sincos_pos_embed get_2d_sincos_pos_embed_from_grid"
        " get_1d_sincos_pos_embed_from_grid interpolate_pos_embed",
    },
    "pretrained": {
        _PRE: "list_pretrained list_pretrained_models_by_tag list_pretrained_tags_by_model is_pretrained_cfg"
        " get_pretrained_cfg get_pretrained_url",
        _URL: "download_pretrained_from_url urllib",
        _HF: "download_pretrained_from_hf",
        _HUB: "download_pretrained",
        _OCH: "has_hf_hub hf_hub_download",
        "clipzoo.constants": "HF_WEIGHTS_NAME HF_SAFE_WEIGHTS_NAME IMAGENET_MEAN IMAGENET_STD INCEPTION_MEAN"
        " INCEPTION_STD OPENAI_DATASET_MEAN OPENAI_DATASET_STD",
    },
    "push_to_hf_hub": {
        "clipzoo.compat.open_clip.push_to_hf_hub": "save_config_for_hf save_for_hf push_to_hf_hub push_pretrained_to_hf_hub"
        " generate_readme",
        "clipzoo.factory.create": "create_model_from_pretrained",
        "clipzoo.factory.tokenizer": "get_tokenizer",
        "clipzoo.registry.architectures": "get_model_config",
        "clipzoo.constants": "HF_WEIGHTS_NAME HF_SAFE_WEIGHTS_NAME HF_CONFIG_NAME",
        _OCT: "HFTokenizer SigLipTokenizer=BigVisionVocabTokenizer",
    },
    "timm_model": {_OCM: "TimmModel", "clipzoo.compat.open_clip.utils": "freeze_batch_norm_2d"},
    "tokenizer": {
        "clipzoo.constants": "DEFAULT_CONTEXT_LENGTH",
        "clipzoo.tokenizers.bpe": "default_bpe bytes_to_unicode decode tokenize random_mask_tokenize"
        " simple_mask_tokenize syntax_mask_tokenize _tokenizer=default_tokenizer()",
        _OCT: "get_pairs get_clean_fn get_reduction_mask_fn SimpleTokenizer HFTokenizer"
        " SigLipTokenizer=BigVisionVocabTokenizer",
        "clipzoo.tokenizers.clean": "basic_clean whitespace_clean canonicalize_text",
    },
    "transform": {
        "clipzoo.preprocess.transforms": "PreprocessCfg merge_preprocess_dict merge_preprocess_kwargs AugmentationCfg"
        " image_transform image_transform_v2",
        "clipzoo.preprocess.torchvision_ops": "ResizeKeepRatio center_crop_or_pad CenterCropOrPad MaybeConvertMode"
        " MaybeToTensor color_jitter gray_scale",
        "clipzoo.compat.open_clip.utils": "to_2tuple",
        "clipzoo.constants": "OPENAI_DATASET_MEAN OPENAI_DATASET_STD",
    },
    "transformer": {
        "clipzoo.models.layers": "LayerNormFp32 LayerNorm QuickGELU",
        _TR: "AttentionalPooler",
        _OCM: "LayerScale PatchDropout Attention ResidualAttentionBlock CustomResidualAttentionBlock CustomTransformer"
        " Transformer VisionTransformer TextTransformer MultimodalTransformer",
        _OCH: "text_global_pool lock_text_tower",
        "clipzoo.compat.open_clip.utils": "to_2tuple",
        "clipzoo.models.intermediates": "feature_take_indices",
        "clipzoo.compat.open_clip.pos_embed": "get_2d_sincos_pos_embed",
    },
    "utils": {
        "clipzoo.compat.open_clip.utils": "freeze_batch_norm_2d to_1tuple to_2tuple to_3tuple to_4tuple to_ntuple replace_linear"
        " convert_int8_model_to_inference_mode",
        "clipzoo.models.intermediates": "feature_take_indices",
    },
    "version": {"clipzoo.compat.open_clip.alias": "__version__=OPEN_CLIP_API_VERSION"},
    "zero_shot_classifier": {
        "clipzoo.zero_shot.classifier": "build_zero_shot_classifier",
        "clipzoo.compat.open_clip.zero_shot_legacy": "batched build_zero_shot_classifier_legacy",
    },
    "zero_shot_metadata": {_ZSM: "OPENAI_IMAGENET_TEMPLATES SIMPLE_IMAGENET_TEMPLATES IMAGENET_CLASSNAMES"},
}


def _parse(entry: str) -> tuple[str, str, bool]:
    """``name`` | ``name=target`` | ``name=target()`` -> (name, target attribute, call it)."""
    name, _, target = entry.partition("=")
    target = target or name
    call = target.endswith("()")
    return name, target.removesuffix("()"), call


def module_table(module: str) -> dict[str, tuple[str, str, bool]]:
    """``{name: (clipzoo module, attribute, call)}`` of one open_clip module (``""`` for the package).

    Args:
        module: The open_clip submodule name (``"tokenizer"``), or ``""`` for the package itself.

    Returns:
        Each public name of that module, with where clipzoo defines it and whether it is called.

    Raises:
        UnknownNameError: ``module`` is not a module of open_clip 3.3.0.
    """
    sources = ALIASES.get(module)
    if sources is None:
        hint = did_you_mean(module, ALIASES)
        hint = f"; {hint}" if hint else ""
        raise UnknownNameError(f"open_clip {OPEN_CLIP_API_VERSION} has no module {module!r}{hint}")
    table: dict[str, tuple[str, str, bool]] = {}
    for source, names in sources.items():
        for entry in names.split():
            name, target, call = _parse(entry)
            table[name] = (source, target, call)
    return table


def resolve(module: str, name: str) -> Any:
    """The clipzoo object that ``open_clip.<module>.<name>`` stands for (imports its clipzoo module).

    Args:
        module: The open_clip submodule name, or ``""`` for the package.
        name: A public name of that module (or ``_tokenizer``/``__version__``).

    Returns:
        The clipzoo function, class or value.

    Raises:
        UnknownNameError: ``module`` is not a module of open_clip 3.3.0.
        AttributeError: open_clip's module has no such public name (with close matches).
    """
    table = module_table(module)
    if name not in table:
        hint = did_you_mean(name, table)
        hint = f"; {hint}" if hint else ""
        where = f"{PACKAGE}.{module}" if module else PACKAGE
        raise AttributeError(f"module {where!r} (clipzoo's alias) has no attribute {name!r}{hint}")
    source, target, call = table[name]
    value = getattr(importlib.import_module(source), target)
    return value() if call else value


class _AliasModule(types.ModuleType):
    """An ``open_clip`` or ``open_clip.<module>`` whose attributes come from clipzoo on first access."""

    __clipzoo_alias__ = True

    def __getattr__(self, name: str) -> Any:
        module = self.__name__.partition(".")[2]
        if name.startswith("__") and name.endswith("__") and name not in module_table(module):
            raise AttributeError(name)  # import machinery probes (__path__, __file__, ...): no hint, no cost
        if not module and name in ALIASES and name not in module_table(module):
            value = importlib.import_module(f"{PACKAGE}.{name}")  # open_clip imports its submodules eagerly
        else:
            value = resolve(module, name)
        setattr(self, name, value)
        return value

    def __setattr__(self, name: str, value: Any) -> None:
        # Importing open_clip.push_to_hf_hub binds the submodule on the package, where open_clip has the function
        # of that name: the function stays.
        if isinstance(value, types.ModuleType) and name in module_table(self.__name__.partition(".")[2]):
            return
        super().__setattr__(name, value)

    def __dir__(self) -> list[str]:
        module = self.__name__.partition(".")[2]
        names = set(module_table(module)) | set(super().__dir__())
        if not module:
            names |= {m for m in ALIASES if m}
        return sorted(names)


class _AliasLoader(importlib.abc.Loader):
    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType:
        return _AliasModule(spec.name)

    def exec_module(self, module: types.ModuleType) -> None:
        name = module.__name__.partition(".")[2]
        module.__dict__["__all__"] = sorted(n for n in module_table(name) if not n.startswith("_"))
        module.__doc__ = f"clipzoo's alias of {module.__name__} (open_clip {OPEN_CLIP_API_VERSION} layout)."


class _AliasFinder(importlib.abc.MetaPathFinder):
    """Finds ``open_clip`` and its 3.3.0 submodules before the real package on sys.path can be found."""

    loader = _AliasLoader()

    def find_spec(
        self, fullname: str, path: Any = None, target: Any = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname == PACKAGE:
            spec = importlib.machinery.ModuleSpec(fullname, self.loader, origin=PACKAGE_FILE, is_package=True)
            spec.submodule_search_locations = []  # submodules come from this finder only
        else:
            parent, _, module = fullname.partition(".")
            if parent != PACKAGE or module not in ALIASES or "." in module:
                return None
            spec = importlib.machinery.ModuleSpec(fullname, self.loader, origin=__file__)
        spec.has_location = True  # sets __file__: programs read open_clip.__file__ (to find files beside it)
        return spec


def _installed_finder() -> _AliasFinder | None:
    return next((f for f in sys.meta_path if isinstance(f, _AliasFinder)), None)


def is_installed() -> bool:
    """Whether ``import open_clip`` currently resolves to clipzoo in this process."""
    return _installed_finder() is not None


def install_as_open_clip() -> None:
    """Make ``import open_clip`` (and every ``open_clip.<module>`` of 3.3.0) resolve to clipzoo.

    Idempotent; imports nothing heavy (names are imported from clipzoo when first read).

    Raises:
        OpenClipConflictError: the real open_clip is already imported in this process; mixing the two
            would give objects of both libraries. Call this before anything imports open_clip.
    """
    current = sys.modules.get(PACKAGE)
    if current is not None and not getattr(current, "__clipzoo_alias__", False):
        where = getattr(current, "__file__", None) or "an unknown location"
        raise OpenClipConflictError(
            f"the real open_clip (from {where}) is already imported in this process; call "
            "clipzoo.install_as_open_clip() before anything imports open_clip (or run the program with "
            "`clipzoo run PROGRAM ...`)"
        )
    if not is_installed():
        sys.meta_path.insert(0, _AliasFinder())


def uninstall_open_clip_alias() -> None:
    """Undo :func:`install_as_open_clip`: drop the import hook and the alias modules from sys.modules."""
    finder = _installed_finder()
    if finder is not None:
        sys.meta_path.remove(finder)
    for name in [n for n in sys.modules if n == PACKAGE or n.startswith(PACKAGE + ".")]:
        if getattr(sys.modules[name], "__clipzoo_alias__", False):
            del sys.modules[name]


# -- clipzoo run -----------------------------------------------------------------------------------------


def find_program(program: str) -> str:
    """Path of a program: a path or ``*.py`` as given, else a script in this interpreter's bin folder or on PATH.

    This interpreter's folder comes first: the script runs in this process, so it must be the one installed
    for this environment's packages.

    Args:
        program: A console script name (``clip_benchmark``) or a path.

    Returns:
        The script's path.

    Raises:
        ProgramNotFoundError: none of those has it.
    """
    # A path, or a Python file name, means a file as `python FILE` takes it (relative to the current folder).
    if os.sep in program or (os.altsep and os.altsep in program) or program.endswith((".py", ".pyw")):
        if os.path.isfile(program):
            return program
        raise ProgramNotFoundError(f"program {program!r} does not exist")
    bindir = os.path.dirname(sys.executable)
    found = shutil.which(program, path=bindir) or shutil.which(program)
    if found is None and os.path.isfile(program):
        return program  # a script without a .py suffix in the current folder
    if found is None:
        raise ProgramNotFoundError(
            f"program {program!r} is not on PATH nor in {bindir}; install it in this environment "
            f"(e.g. `uv pip install --python {sys.executable} clip-benchmark` for clip_benchmark; this "
            "environment may have no pip) or give its path"
        )
    return found


def _check_python(path: str) -> None:
    """Raise :class:`NotAPythonProgramError` unless ``path`` is Python source (what runpy can run)."""
    with open(path, "rb") as f:
        head = f.read(4096)
    first = head.split(b"\n", 1)[0]
    is_python = (first.startswith(b"#!") and b"python" in first) or (
        not first.startswith(b"#!") and b"\0" not in head
    )
    if not is_python:
        raise NotAPythonProgramError(
            f"{path} is not a Python program (clipzoo run executes Python console scripts in-process, "
            "with `import open_clip` served by clipzoo)"
        )


def _check_module(name: str) -> None:
    """Raise :class:`ProgramNotFoundError` unless ``python -m name`` would find the module."""
    import importlib.util

    try:
        found = importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        found = False
    if not found:
        raise ProgramNotFoundError(
            f"no module named {name!r} in this environment (for clipzoo run -m {name})"
        )


_CHILD_ENV = ("PYTHONPATH", "CLIPZOO_OPEN_CLIP_ALIAS")


def _child_env() -> dict[str, str]:
    """Environment for the Python processes the program starts: our sitecustomize installs the alias there."""
    site_dir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "_alias_site")
    path = os.environ.get("PYTHONPATH")
    return {
        "PYTHONPATH": site_dir + (os.pathsep + path if path else ""),
        "CLIPZOO_OPEN_CLIP_ALIAS": "1",
    }


def run_program(program: str, args: Sequence[str] = (), *, module: bool = False) -> int:
    """Run a console script (or, with ``module=True``, ``python -m MODULE``) in this process, aliased.

    The program sees ``sys.argv == [program, *args]`` and ``sys.path[0]`` as python sets it (the script's
    folder; the current folder for ``-m``), and imports clipzoo wherever it imports open_clip; so
    do the Python processes it starts (multiprocessing's spawn, subprocesses): while it runs, ``PYTHONPATH``
    leads to a ``sitecustomize`` that installs the alias when ``CLIPZOO_OPEN_CLIP_ALIAS=1`` (both are restored
    afterwards).

    Args:
        program: A console script (name or path), or with ``module=True`` a module name.
        args: The program's arguments (``sys.argv[1:]`` as it sees them).
        module: Run ``program`` as ``python -m`` would.

    Returns:
        The exit status.
    Returns the exit status it ends with: 0 when it returns normally, else the integer it passed to
    ``sys.exit``. A non-integer exit code (``sys.exit("message")``) is raised again as ``SystemExit``, so
    the interpreter prints it and exits with status 1, as it would have without clipzoo.

    Raises:
        ProgramNotFoundError: the console script or module cannot be found.
        NotAPythonProgramError: the program is not Python source.
        OpenClipConflictError: the real open_clip is already imported in this process.
    """
    path = None if module else find_program(program)
    if path is not None:
        _check_python(path)
    install_as_open_clip()
    saved_argv, saved_env = sys.argv[:], {k: os.environ.get(k) for k in _CHILD_ENV}
    saved_path0 = sys.path[0] if sys.path else None
    # sys.path[0] as python sets it: the current folder for -m, the script's own folder for a file.
    first = os.getcwd() if path is None else os.path.dirname(os.path.realpath(path))
    if sys.path:
        sys.path[0] = first
    else:
        sys.path.insert(0, first)
    sys.argv = [program if path is None else path, *args]
    os.environ.update(_child_env())
    try:
        if path is None:  # a module (-m)
            _check_module(program)  # after the alias: finding a submodule imports its parent packages
            runpy.run_module(program, run_name="__main__", alter_sys=True)
        else:
            runpy.run_path(path, run_name="__main__")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            return stop.code or 0
        raise
    finally:
        sys.argv = saved_argv
        if saved_path0 is None:
            sys.path.pop(0)
        elif sys.path:
            sys.path[0] = saved_path0
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return 0
