"""Pydantic v2 models of the part of the Figma REST API schema that pf-figma uses.

Unknown fields are ignored (the API grows all the time); every field we read is optional with the
API's documented default, so partial or older responses still validate.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

# Deepest node nesting accepted (levels below the root). Validation of deeper JSON would hit
# pydantic-core's recursion limit; such files fail early with DesignTooDeep naming the node.
MAX_DEPTH = 250


def nesting_too_deep(data: Any, limit: int = MAX_DEPTH) -> str | None:
    """The id of the first node nested deeper than ``limit`` in decoded Figma JSON, else None.
    Iterative, so any depth is safe to check."""
    stack: list[tuple[Any, int]] = [(data, 0)]
    while stack:
        cur, depth = stack.pop()
        if isinstance(cur, dict):
            if depth > limit:
                return str(cur.get("id", "?"))
            for k, v in cur.items():
                stack.append((v, depth + (1 if k == "children" else 0)))
        elif isinstance(cur, list):
            stack.extend((v, depth) for v in cur)
    return None


class _Model(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Color(_Model):
    r: float = 0.0
    g: float = 0.0
    b: float = 0.0
    a: float = 1.0


class Vector(_Model):
    x: float = 0.0
    y: float = 0.0


class Rect(_Model):
    x: float = 0.0
    y: float = 0.0
    width: float = 0.0
    height: float = 0.0


class ColorStop(_Model):
    position: float = 0.0
    color: Color = Field(default_factory=Color)


class Paint(_Model):
    type: str = "SOLID"
    visible: bool = True
    opacity: float = 1.0
    color: Color | None = None
    blendMode: str | None = None
    gradientHandlePositions: list[Vector] | None = None
    gradientStops: list[ColorStop] | None = None
    scaleMode: str | None = None  # FILL | FIT | CROP | TILE
    imageRef: str | None = None
    imageTransform: list[list[float]] | None = None
    # Figma variables bound to this paint ({"color": {"type": "VARIABLE_ALIAS", "id": ...}})
    boundVariables: dict[str, Any] | None = None


class Effect(_Model):
    type: str
    visible: bool = True
    radius: float = 0.0
    color: Color | None = None
    offset: Vector | None = None
    spread: float = 0.0
    blendMode: str | None = None


class Hyperlink(_Model):
    type: str = "URL"  # URL | NODE
    url: str | None = None
    nodeID: str | None = None


class LayoutConstraint(_Model):
    vertical: str = "TOP"  # TOP | BOTTOM | CENTER | TOP_BOTTOM | SCALE
    horizontal: str = "LEFT"  # LEFT | RIGHT | CENTER | LEFT_RIGHT | SCALE


class TypeStyle(_Model):
    fontFamily: str | None = None
    fontPostScriptName: str | None = None
    italic: bool = False
    fontWeight: float = 400
    fontSize: float = 16
    textCase: str | None = None
    textDecoration: str | None = None
    textAutoResize: str | None = None
    textAlignHorizontal: str | None = None
    textAlignVertical: str | None = None
    letterSpacing: float = 0.0
    lineHeightPx: float | None = None
    lineHeightPercent: float | None = None
    lineHeightPercentFontSize: float | None = None
    lineHeightUnit: str | None = None
    textTruncation: str | None = None  # DISABLED | ENDING
    maxLines: int | None = None
    hyperlink: Hyperlink | None = None
    fills: list[Paint] | None = None  # only in styleOverrideTable entries
    listSpacing: float | None = None
    paragraphSpacing: float | None = None
    paragraphIndent: float | None = None


class ComponentPropertyDefinition(_Model):
    type: str
    defaultValue: Any = None
    variantOptions: list[str] | None = None


class ComponentProperty(_Model):
    type: str
    value: Any = None


class Override(_Model):
    id: str = ""
    overriddenFields: list[str] = Field(default_factory=list)


class Path(_Model):
    path: str
    windingRule: str | None = None


class Node(_Model):
    """A scene-graph node (any type). Children are nodes too."""

    id: str = ""
    name: str = ""
    type: str = "FRAME"
    visible: bool = True
    children: list[Node] = Field(default_factory=list)
    absoluteBoundingBox: Rect | None = None
    # paints and effects
    fills: list[Paint] = Field(default_factory=list)
    strokes: list[Paint] = Field(default_factory=list)
    strokeWeight: float | None = None
    strokeAlign: str | None = None
    strokeDashes: list[float] | None = None
    individualStrokeWeights: dict[str, float] | None = None
    cornerRadius: float | None = None
    rectangleCornerRadii: list[float] | None = None
    effects: list[Effect] = Field(default_factory=list)
    opacity: float = 1.0
    blendMode: str | None = None
    isMask: bool = False
    clipsContent: bool = False
    styles: dict[str, str] = Field(default_factory=dict)
    # Figma variables bound to node fields ({"itemSpacing": {"type": "VARIABLE_ALIAS", ...}})
    boundVariables: dict[str, Any] | None = None
    # auto layout
    layoutMode: str | None = None
    layoutWrap: str | None = None
    primaryAxisSizingMode: str | None = None
    counterAxisSizingMode: str | None = None
    primaryAxisAlignItems: str | None = None
    counterAxisAlignItems: str | None = None
    paddingLeft: float = 0.0
    paddingRight: float = 0.0
    paddingTop: float = 0.0
    paddingBottom: float = 0.0
    itemSpacing: float = 0.0
    counterAxisSpacing: float | None = None
    layoutAlign: str | None = None
    layoutGrow: float = 0.0
    layoutPositioning: str | None = None
    layoutSizingHorizontal: str | None = None
    layoutSizingVertical: str | None = None
    minWidth: float | None = None
    maxWidth: float | None = None
    minHeight: float | None = None
    maxHeight: float | None = None
    counterAxisAlignContent: str | None = None  # AUTO | SPACE_BETWEEN (wrapping rows)
    constraints: LayoutConstraint | None = None
    # geometry: rotation in radians (counter-clockwise), the unrotated size, and the 2x3 matrix
    rotation: float = 0.0
    size: Vector | None = None
    relativeTransform: list[list[float]] | None = None
    maskType: str | None = None  # ALPHA | VECTOR | LUMINANCE
    # GRID auto layout (layoutMode == "GRID")
    gridRowCount: int | None = None
    gridColumnCount: int | None = None
    gridRowGap: float = 0.0
    gridColumnGap: float = 0.0
    gridColumnsSizing: str | None = None
    gridRowsSizing: str | None = None
    gridColumnSpan: int | None = None
    gridRowSpan: int | None = None
    gridColumnAnchorIndex: int | None = None
    gridRowAnchorIndex: int | None = None
    gridChildHorizontalAlign: str | None = None
    gridChildVerticalAlign: str | None = None
    # FigJam
    shapeType: str | None = None
    authorVisible: bool | None = None  # STICKY: the author's name shown under the note
    # text
    characters: str | None = None
    style: TypeStyle | None = None
    characterStyleOverrides: list[int] = Field(default_factory=list)
    styleOverrideTable: dict[str, TypeStyle] = Field(default_factory=dict)
    lineTypes: list[str] = Field(default_factory=list)  # NONE | ORDERED | UNORDERED per line
    lineIndentations: list[int] = Field(default_factory=list)
    # components
    componentId: str | None = None
    componentProperties: dict[str, ComponentProperty] | None = None
    componentPropertyDefinitions: dict[str, ComponentPropertyDefinition] | None = None
    componentPropertyReferences: dict[str, str] | None = None
    overrides: list[Override] | None = None
    # vector geometry (only when requested with ?geometry=paths)
    fillGeometry: list[Path] | None = None
    strokeGeometry: list[Path] | None = None


class ComponentMeta(_Model):
    key: str = ""
    name: str = ""
    description: str = ""
    componentSetId: str | None = None


class StyleMeta(_Model):
    key: str = ""
    name: str = ""
    styleType: str = ""
    description: str = ""


class FileResponse(_Model):
    """GET /v1/files/:key"""

    name: str = "Untitled"
    lastModified: str | None = None
    version: str | None = None
    document: Node
    components: dict[str, ComponentMeta] = Field(default_factory=dict)
    componentSets: dict[str, ComponentMeta] = Field(default_factory=dict)
    styles: dict[str, StyleMeta] = Field(default_factory=dict)


class NodeEntry(_Model):
    document: Node
    components: dict[str, ComponentMeta] = Field(default_factory=dict)
    componentSets: dict[str, ComponentMeta] = Field(default_factory=dict)
    styles: dict[str, StyleMeta] = Field(default_factory=dict)


class NodesResponse(_Model):
    """GET /v1/files/:key/nodes?ids=..."""

    name: str = "Untitled"
    lastModified: str | None = None
    version: str | None = None
    nodes: dict[str, NodeEntry | None]


# ---- Figma variables: GET /v1/files/:key/variables/local ({"meta": {"variables": ...,
# "variableCollections": ...}}). File JSON carries only ``boundVariables`` ids.


class VariableMode(_Model):
    modeId: str = ""
    name: str = ""


class VariableCollection(_Model):
    id: str = ""
    name: str = ""
    key: str = ""
    modes: list[VariableMode] = Field(default_factory=list)
    defaultModeId: str = ""
    remote: bool = False
    hiddenFromPublishing: bool = False
    variableIds: list[str] = Field(default_factory=list)


class Variable(_Model):
    id: str = ""
    name: str = ""
    key: str = ""
    variableCollectionId: str = ""
    resolvedType: str = ""  # BOOLEAN | FLOAT | STRING | COLOR
    # mode id -> value: a number, string, boolean, {r,g,b,a} or {"type": "VARIABLE_ALIAS", "id"}
    valuesByMode: dict[str, Any] = Field(default_factory=dict)
    remote: bool = False
    description: str = ""
    hiddenFromPublishing: bool = False
    scopes: list[str] = Field(default_factory=list)
    codeSyntax: dict[str, str] = Field(default_factory=dict)


class LocalVariables(_Model):
    variables: dict[str, Variable] = Field(default_factory=dict)
    variableCollections: dict[str, VariableCollection] = Field(default_factory=dict)
