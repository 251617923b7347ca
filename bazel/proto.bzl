"""cc_grpc_proto: C++ code for .proto files from the system protoc.

Runs Debian's /usr/bin/protoc with /usr/bin/grpc_cpp_plugin (including the
generated gmock stub, *_mock.grpc.pb.h) and wraps the output in a cc_library.
Imports resolve against the workspace root, /usr/include (the well-known
types), /usr/share/grpc-proto (Debian's grpc-proto package), Debian's gogo
googleapis copy (google.rpc.Status and ErrorInfo, google.api's HTTP
annotations), etcd's v3 API and the gogoproto options it imports.
"""

_PROTOC = "/usr/bin/protoc"
_GRPC_PLUGIN = "/usr/bin/grpc_cpp_plugin"
# The last one is Debian's golang-github-gogo-googleapis-dev: plain
# google/rpc/status.proto and error_details.proto (no gogo imports).
_GOOGLEAPIS = "/usr/share/gocode/src/github.com/gogo/googleapis"
# etcd's v3 API from golang-etcd-server-dev (imported as "etcd/..."), and
# the gogoproto options it imports from golang-github-gogo-protobuf-dev
# (google/api/annotations.proto comes from the googleapis copy above).
_ETCD = "/usr/share/gocode/src/go.etcd.io"
_GOGO = "/usr/share/gocode/src/github.com/gogo/protobuf"
_IMPORT_PATHS = " ".join([
    "-I.",
    "-I/usr/include",
    "-I/usr/share/grpc-proto",
    "-I" + _GOOGLEAPIS,
    "-I" + _ETCD,
    "-I" + _GOGO,
])

def cc_grpc_proto(
        name,
        protos,
        system = False,
        grpc = True,
        compile_sources = True,
        deps = [],
        **kwargs):
    """Generates C++ for `protos` and wraps it in cc_library `name`.

    Args:
      name: the cc_library.
      protos: import paths of the .proto files. In-repo files are paths from
        the workspace root and must live in this package; with system = True
        they are paths under /usr/share/grpc-proto, /usr/include or the
        googleapis directory.
      system: the protos come from the system, not from this package.
      grpc: also run grpc_cpp_plugin (service stubs and the gmock stub).
      compile_sources: False generates headers only, for protos whose code a
        system library already contains (linking both would register the
        same descriptors twice).
      deps: cc_grpc_proto targets of imported files, and system libraries.
      **kwargs: passed to the cc_library (visibility, testonly, ...).
    """
    pkg = native.package_name()
    outs = []
    hdrs = []
    srcs = []
    srcs_in = []
    for proto in protos:
        if system:
            rel = proto[:-len(".proto")]
        else:
            if not proto.startswith(pkg + "/"):
                fail("%s is not in package %s" % (proto, pkg))
            rel = proto[len(pkg) + 1:-len(".proto")]
            srcs_in.append(rel + ".proto")
        hdrs.append(rel + ".pb.h")
        srcs.append(rel + ".pb.cc")
        if grpc:
            hdrs += [rel + ".grpc.pb.h", rel + "_mock.grpc.pb.h"]
            srcs.append(rel + ".grpc.pb.cc")
    outs = hdrs + srcs

    out_dir = "$(GENDIR)/" + pkg if system else "$(GENDIR)"
    cmd = "%s %s --cpp_out=%s" % (_PROTOC, _IMPORT_PATHS, out_dir)
    if grpc:
        cmd += " --plugin=protoc-gen-grpc=%s --grpc_out=generate_mock_code=true:%s" % (
            _GRPC_PLUGIN,
            out_dir,
        )
    cmd += " " + " ".join(protos)

    native.genrule(
        name = name + "_gen",
        srcs = srcs_in,
        outs = outs,
        cmd = cmd,
        testonly = kwargs.get("testonly", False),
        visibility = ["//visibility:private"],
    )
    native.cc_library(
        name = name,
        hdrs = hdrs,
        srcs = srcs if compile_sources else [],
        includes = ["."] if system else [],
        deps = deps + [
            "//third_party:grpc",
            "//third_party:protobuf",
        ],
        **kwargs
    )
