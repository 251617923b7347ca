"""Who may depend on each layer of the server.

The folders are the layers, lowest first: //base, //server/ops,
//server/upstream, //server/broker, //server/rpc, //server/config, and the
composition root //server; //server/fleet (state shared through etcd)
sits beside the broker, using it, and only the root wires it in. Every
package is private by default; each target
opens itself with one of these lists, which name only the layers above it
(and the trees that test, benchmark and fuzz it), so an upward include does
not build.
"""

_CHECKS = [
    "//bench:__pkg__",
    "//fuzz:__pkg__",
    "//tests:__subpackages__",
]

# The composition root: token_server and main.cc.
ROOT = ["//server:__pkg__"] + _CHECKS

CONFIG_USERS = ROOT

RPC_USERS = ["//server/config:__pkg__"] + CONFIG_USERS

# Fleet mode (//server/fleet): only the composition root wires it in.
FLEET_USERS = ROOT

BROKER_USERS = [
    "//server/fleet:__pkg__",
    "//server/rpc:__pkg__",
] + RPC_USERS

UPSTREAM_USERS = ["//server/broker:__pkg__"] + BROKER_USERS

OPS_USERS = ["//server/upstream:__pkg__"] + UPSTREAM_USERS

# Leaf helpers: the server's layers, the client library and the fake myPOS.
BASE_USERS = [
    "//client:__pkg__",
    "//examples:__pkg__",
    "//fake_mypos:__pkg__",
    "//server:__subpackages__",
] + _CHECKS
