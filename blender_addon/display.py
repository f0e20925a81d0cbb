"""How a splat object shows in Blender: a Geometry Nodes modifier, so the splats are ordinary
geometry that every viewport mode and render engine draws, that selection and the outliner know.

The imported mesh keeps one loose vertex per splat with its attributes (importer.py). The
modifier `AniX Splat Display` (node group of the same name) puts a small icosahedron on each
splat, stretched by its `scale` (times Size, in standard deviations) and turned by its `rotation`,
and realises them into one mesh whose point attribute `color` is the splat's colour:
- Solid mode and Workbench renders with Color: Attribute show it (`color` is the active colour
  attribute of the shape mesh the instances come from, so the realised mesh keeps it active);
- Material Preview, EEVEE and Cycles use the material `AniX Splat`: an Attribute node reads
  `splat_color` (the same colours: Cycles reads the realised `color` as the shape's own) into an
  Emission shader (splat colours are baked light), mixed with transparency by
  `opacity` (times 2, clamped: splats half opaque or more are solid, so the layers of a dense
  scene do not run out Cycles' transparent bounces).
Density (the share of splats shown, a fixed random subset) and Min Opacity keep a scene of
millions interactive: an import shows at most DISPLAY_BUDGET splats until the animator asks for
more. The backend always renders every splat: the display never changes the shot.
"""
from __future__ import annotations

import bpy

MODIFIER = "AniX Splat Display"
NODE_GROUP = "AniX Splat Display"
SHAPE = "AniX Splat Shape"
MATERIAL = "AniX Splat"
COLOUR_FOR_SHADERS = "splat_color"
VERSION = 1                 # bump when the node group changes: old files get the new one
DISPLAY_BUDGET = 100_000    # splats shown by default (12 vertices each): a light viewport, a quick import
DEFAULT_SIZE = 1.5          # half-axes in standard deviations: where a splat fades out
DEFAULT_MIN_OPACITY = 0.1   # fainter splats are not drawn
# input name -> (socket type, default, min, max, description)
INPUTS = {
    "Density": ("NodeSocketFloat", 1.0, 0.0, 1.0, "Share of the splats shown (a fixed random subset); lower it for big scenes"),
    "Size": ("NodeSocketFloat", DEFAULT_SIZE, 0.01, 10.0, "Splat half-axes in standard deviations"),
    "Min Opacity": ("NodeSocketFloat", DEFAULT_MIN_OPACITY, 0.0, 1.0, "Splats fainter than this are not shown"),
}


def default_density(count: int) -> float:
    """The share of `count` splats shown at import: all of them up to DISPLAY_BUDGET."""
    return 1.0 if count <= DISPLAY_BUDGET else round(DISPLAY_BUDGET / count, 3)


def _shape_object():
    """A hidden icosahedron object whose mesh carries the active colour attribute `color`."""
    obj = bpy.data.objects.get(SHAPE)
    if obj is not None and obj.type == "MESH" and "color" in obj.data.color_attributes:
        return obj
    import bmesh

    mesh = bpy.data.meshes.new(SHAPE)
    bm = bmesh.new()
    bmesh.ops.create_icosphere(bm, subdivisions=1, radius=1.0)
    bm.to_mesh(mesh)
    bm.free()
    mesh.color_attributes.new("color", "FLOAT_COLOR", "POINT")
    mesh.color_attributes.active_color_name = "color"
    mesh.color_attributes.default_color_name = "color"
    if obj is None:
        obj = bpy.data.objects.new(SHAPE, mesh)  # in no collection: only the node group uses it
    else:
        obj.data = mesh
    return obj


def _material():
    mat = bpy.data.materials.get(MATERIAL)
    if mat is not None and mat.get("anix_version") == VERSION:
        return mat
    mat = mat or bpy.data.materials.new(MATERIAL)
    mat.use_nodes = True
    nodes, links = mat.node_tree.nodes, mat.node_tree.links
    nodes.clear()
    attr = nodes.new("ShaderNodeAttribute")
    attr.attribute_name = COLOUR_FOR_SHADERS
    opacity = nodes.new("ShaderNodeAttribute")
    opacity.attribute_name = "opacity"
    solid = nodes.new("ShaderNodeMath")
    solid.operation, solid.use_clamp = "MULTIPLY", True
    solid.inputs[1].default_value = 2.0
    emission = nodes.new("ShaderNodeEmission")
    transparent = nodes.new("ShaderNodeBsdfTransparent")
    mix = nodes.new("ShaderNodeMixShader")
    out = nodes.new("ShaderNodeOutputMaterial")
    links.new(attr.outputs["Color"], emission.inputs["Color"])
    links.new(opacity.outputs["Fac"], solid.inputs[0])
    links.new(solid.outputs[0], mix.inputs[0])
    links.new(transparent.outputs[0], mix.inputs[1])
    links.new(emission.outputs[0], mix.inputs[2])
    links.new(mix.outputs[0], out.inputs["Surface"])
    for i, node in enumerate((attr, opacity, solid, emission, transparent, mix, out)):
        node.location = (i * 200, 0)
    mat.diffuse_color = (0.8, 0.8, 0.8, 1.0)
    mat["anix_version"] = VERSION
    return mat


def _output(node, socket_type: str):
    """The enabled output of `node` of the given type (Blender 5.0 keeps disabled ones around)."""
    return next(s for s in node.outputs if s.enabled and s.type == socket_type)


def node_group():
    """The node group shared by every splat object (made, or remade after a version change)."""
    group = bpy.data.node_groups.get(NODE_GROUP)
    if group is not None and group.get("anix_version") == VERSION:
        return group
    group = group or bpy.data.node_groups.new(NODE_GROUP, "GeometryNodeTree")
    group.nodes.clear()
    group.interface.clear()
    group.interface.new_socket("Geometry", in_out="INPUT", socket_type="NodeSocketGeometry")
    for name, (kind, default, low, high, description) in INPUTS.items():
        socket = group.interface.new_socket(name, in_out="INPUT", socket_type=kind)
        socket.default_value, socket.min_value, socket.max_value = default, low, high
        socket.description = description
    group.interface.new_socket("Geometry", in_out="OUTPUT", socket_type="NodeSocketGeometry")
    nodes, link = group.nodes, group.links.new

    def named(name: str, data_type: str):
        node = nodes.new("GeometryNodeInputNamedAttribute")
        node.data_type = data_type
        node.inputs["Name"].default_value = name
        return node.outputs["Attribute"]

    inp, out = nodes.new("NodeGroupInput"), nodes.new("NodeGroupOutput")
    # which splats: a fixed random share (Density) of those at least Min Opacity opaque
    chance = nodes.new("FunctionNodeRandomValue")
    chance.data_type = "BOOLEAN"
    link(inp.outputs["Density"], chance.inputs["Probability"])
    opaque = nodes.new("FunctionNodeCompare")
    opaque.data_type, opaque.operation = "FLOAT", "GREATER_EQUAL"
    link(named("opacity", "FLOAT"), opaque.inputs["A"])
    link(inp.outputs["Min Opacity"], opaque.inputs["B"])
    both = nodes.new("FunctionNodeBooleanMath")
    both.operation = "AND"
    link(_output(chance, "BOOLEAN"), both.inputs[0])
    link(opaque.outputs["Result"], both.inputs[1])
    # keep the splat colour under another name: the shape's own `color` wins when realising
    keep = nodes.new("GeometryNodeStoreNamedAttribute")
    keep.data_type, keep.domain = "FLOAT_COLOR", "POINT"
    keep.inputs["Name"].default_value = COLOUR_FOR_SHADERS
    link(inp.outputs["Geometry"], keep.inputs["Geometry"])
    link(named("color", "FLOAT_COLOR"), keep.inputs["Value"])
    shape = nodes.new("GeometryNodeObjectInfo")
    shape.inputs["Object"].default_value = _shape_object()
    size = nodes.new("ShaderNodeVectorMath")
    size.operation = "SCALE"
    link(named("scale", "FLOAT_VECTOR"), size.inputs[0])
    link(inp.outputs["Size"], size.inputs["Scale"])
    place = nodes.new("GeometryNodeInstanceOnPoints")
    link(keep.outputs["Geometry"], place.inputs["Points"])
    link(both.outputs[0], place.inputs["Selection"])
    link(shape.outputs["Geometry"], place.inputs["Instance"])
    link(named("rotation", "QUATERNION"), place.inputs["Rotation"])
    link(size.outputs["Vector"], place.inputs["Scale"])
    realize = nodes.new("GeometryNodeRealizeInstances")
    link(place.outputs["Instances"], realize.inputs["Geometry"])
    colour = nodes.new("GeometryNodeStoreNamedAttribute")
    colour.data_type, colour.domain = "FLOAT_COLOR", "POINT"
    colour.inputs["Name"].default_value = "color"
    link(realize.outputs["Geometry"], colour.inputs["Geometry"])
    link(named(COLOUR_FOR_SHADERS, "FLOAT_COLOR"), colour.inputs["Value"])
    material = nodes.new("GeometryNodeSetMaterial")
    material.inputs["Material"].default_value = _material()
    link(colour.outputs["Geometry"], material.inputs["Geometry"])
    link(material.outputs["Geometry"], out.inputs["Geometry"])
    for i, node in enumerate(nodes):
        node.location = (i * 180, 0)
    group["anix_version"] = VERSION
    return group


def modifier(obj):
    """The display modifier of `obj`, or None."""
    mod = obj.modifiers.get(MODIFIER)
    return mod if mod is not None and mod.type == "NODES" else None


def input_key(name: str) -> str:
    """The modifier's custom-property key of the node group input `name` (for layout.prop)."""
    group = node_group()
    return next(item.identifier for item in group.interface.items_tree
                if item.item_type == "SOCKET" and item.in_out == "INPUT" and item.name == name)


def input_owner(mod, name: str) -> tuple:
    """(data, property path) of the modifier input `name`, for layout.prop and get/set:
    Blender 5.2 keeps inputs in `mod.properties.inputs.<id>.value`, 5.0 as custom properties."""
    key = input_key(name)
    interface = getattr(mod, "properties", None)
    if interface is not None and hasattr(interface, "inputs"):
        return getattr(interface.inputs, key), "value"
    return mod, f'["{key}"]'


def set_input(obj, name: str, value) -> None:
    data, path = input_owner(modifier(obj), name)
    if path == "value":
        data.value = value
    else:
        data[input_key(name)] = value
    obj.update_tag()


def get_input(obj, name: str):
    mod = modifier(obj)
    if mod is None:
        return None
    data, path = input_owner(mod, name)
    return data.value if path == "value" else data[input_key(name)]


def add_display(obj, count: int):
    """Give a splat object its display modifier (Density set for `count` splats)."""
    mod = modifier(obj) or obj.modifiers.new(MODIFIER, "NODES")
    mod.node_group = node_group()
    if not obj.data.materials:
        obj.data.materials.append(_material())
    set_input(obj, "Density", default_density(count))
    return mod


def upgrade_file() -> int:
    """Splat objects without the display (made by an older AniX) get it; returns how many."""
    from .importer import SPLAT_COUNT_KEY, SPLAT_PATH_KEY

    missing = [o for o in bpy.data.objects if o.type == "MESH" and SPLAT_PATH_KEY in o and modifier(o) is None]
    for obj in missing:
        add_display(obj, int(obj.get(SPLAT_COUNT_KEY, len(obj.data.vertices))))
    return len(missing)


def shown_count(obj, depsgraph) -> int:
    """How many splats the display shows now (12 vertices each)."""
    evaluated = obj.evaluated_get(depsgraph)
    shape = bpy.data.objects.get(SHAPE)
    per = len(shape.data.vertices) if shape is not None else 12
    return len(evaluated.data.vertices) // per if evaluated.data is not None else 0


def show_colours_in_solid_mode(screen) -> int:
    """Solid-mode 3D views of `screen` that colour by material switch to the colour attribute
    (a view setting, not data); returns how many changed."""
    changed = 0
    for area in getattr(screen, "areas", []):
        if area.type != "VIEW_3D":
            continue
        shading = area.spaces.active.shading
        if shading.type == "SOLID" and shading.color_type == "MATERIAL":
            shading.color_type = "VERTEX"
            changed += 1
    return changed
