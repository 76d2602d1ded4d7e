# Install rules and Debian packages: one component, and one .deb, per program, and one for
# the Python SDK the CLI's local runs and the agent's runs import (the in-run API).
#   cli    -> runyard         /usr/bin/runyard, /usr/lib/runyard/runyard-ranks
#   server -> runyard-server  /usr/bin/runyard-server, its unit, /etc/runyard/server.yaml
#   agent  -> runyard-agent   /usr/bin/runyard-agent, /usr/lib/runyard-agent/runyard-ranks,
#                             its unit, /etc/runyard/agent.yaml
#   python -> runyard-python  /usr/share/runyard/python (install rule in sdk/CMakeLists.txt)
# Build them with scripts/package.sh (or: cd BUILD && cpack -G DEB).
# Included from the top-level CMakeLists.txt, so paths are relative to the source root.

include(GNUInstallDirs)

set(RUNYARD_PACKAGE_MAINTAINER "runyard maintainers <maintainers@runyard.invalid>"
    CACHE STRING "Maintainer field of the Debian packages")
# Debian 12 keeps units in /lib/systemd/system (pkg-config systemd's systemdsystemunitdir).
# Absolute, like /etc: these paths are what the units and ExecStart= lines name.
set(RUNYARD_SYSTEMD_UNIT_DIR "/lib/systemd/system" CACHE PATH "Where the systemd units are installed")

set(_packaging ${CMAKE_CURRENT_LIST_DIR})

install(TARGETS runyard RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
# Local distributed runs (compute_target: local) start their ranks with it.
install(TARGETS runyard-ranks RUNTIME DESTINATION lib/runyard COMPONENT cli)

install(TARGETS runyard-server RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT server)
install(FILES ${_packaging}/systemd/runyard-server.service
        DESTINATION ${RUNYARD_SYSTEMD_UNIT_DIR} COMPONENT server)
install(FILES ${_packaging}/server.yaml DESTINATION /etc/runyard COMPONENT server)

install(TARGETS runyard-agent RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT agent)
# runyard-ranks starts a distributed run's ranks on a node. Each program that runs runs
# ships its own copy, found at <prefix>/lib/<program>/runyard-ranks (runtime/ranks_binary.cc):
# two packages may not own one file, and each copy is its own package's version.
install(TARGETS runyard-ranks RUNTIME DESTINATION lib/runyard-agent COMPONENT agent)
install(FILES ${_packaging}/systemd/runyard-agent.service
        DESTINATION ${RUNYARD_SYSTEMD_UNIT_DIR} COMPONENT agent)
install(FILES ${_packaging}/agent.yaml DESTINATION /etc/runyard COMPONENT agent)

# --- CPack -------------------------------------------------------------------------------

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME runyard)
set(CPACK_PACKAGE_VENDOR runyard)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${RUNYARD_PACKAGE_MAINTAINER}")
# Only our four components; nothing a dependency might install.
set(CPACK_COMPONENTS_ALL cli server agent python)
set(CPACK_DEB_COMPONENT_INSTALL ON)
# name_version_arch.deb, as Debian names them.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${RUNYARD_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
# Library dependencies (libgrpc++, libprotobuf, ...) from dpkg-shlibdeps, added to the
# Depends: given below.
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# Maintainer scripts 0755 and conffiles 0644 whatever their modes in the source tree.
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
# Release binaries without debug info, as Debian ships them (the build tree keeps it).
set(CPACK_STRIP_FILES ON)

# The first line of each description is the synopsis; CPack indents the rest.
set(CPACK_DEBIAN_CLI_PACKAGE_NAME runyard)
set(CPACK_DEBIAN_CLI_PACKAGE_SECTION utils)
# The SDK local runs get on their PYTHONPATH, found at <exe dir>/../share/runyard/python
# (common/sdk_location.cc): the same version, as the two speak one run_api protocol.
set(CPACK_DEBIAN_CLI_PACKAGE_DEPENDS "runyard-python (= ${PROJECT_VERSION})")
# git: records the commit of a submitted folder; python3: local runs (compute_target: local).
set(CPACK_DEBIAN_CLI_PACKAGE_RECOMMENDS "git, python3")
set(CPACK_DEBIAN_CLI_DESCRIPTION
"runs machine-learning training scripts and keeps their history
runyard describes a run like Azure ML's ScriptRunConfig (source folder,
script, arguments, compute target, Python environment, deadline), snapshots
the folder and runs it locally or queues it on a pool served by runyard-server.
.
This package holds the command line: run, submit, status, list, logs, files,
download, cancel. Local runs import the in-run API (runyard, azureml.core)
from runyard-python.")

set(CPACK_DEBIAN_SERVER_PACKAGE_NAME runyard-server)
set(CPACK_DEBIAN_SERVER_PACKAGE_SECTION admin)
# adduser: postinst makes the runyard system user.
set(CPACK_DEBIAN_SERVER_PACKAGE_DEPENDS "adduser, openssl")
set(CPACK_DEBIAN_SERVER_PACKAGE_SUGGESTS "runyard, runyard-agent")
set(CPACK_DEBIAN_SERVER_PACKAGE_CONTROL_EXTRA
    "${_packaging}/debian/runyard-server/conffiles;${_packaging}/debian/runyard-server/postinst;${_packaging}/debian/runyard-server/prerm;${_packaging}/debian/runyard-server/postrm")
set(CPACK_DEBIAN_SERVER_DESCRIPTION
"control plane for runyard training runs
runyard-server keeps a queue per pool, hands runs to agents under leases,
stores the run history in SQLite and snapshots in a content-addressed blob
store, and serves the runyard command line and the agents over gRPC.
.
It runs as the runyard system user under systemd (runyard-server.service),
configured by /etc/runyard/server.yaml.")

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME runyard-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION admin)
# python3: runs are Python scripts, and venvs are made from it (base_python).
# runyard-python: the SDK runs get on their PYTHONPATH (see the CLI's).
set(CPACK_DEBIAN_AGENT_PACKAGE_DEPENDS "python3, runyard-python (= ${PROJECT_VERSION})")
# bubblewrap: sandbox: bubblewrap; python3-venv: runs with pip packages get a venv.
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "bubblewrap, python3-venv")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA
    "${_packaging}/debian/runyard-agent/conffiles;${_packaging}/debian/runyard-agent/postinst;${_packaging}/debian/runyard-agent/prerm;${_packaging}/debian/runyard-agent/postrm")
set(CPACK_DEBIAN_AGENT_DESCRIPTION
"node daemon that runs runyard training runs
runyard-agent pulls runs from runyard-server the moment they are queued,
unpacks their snapshots, builds their Python environments, runs them in
cgroups (optionally sandboxed with bubblewrap) under their deadlines, and
streams their output and files back to the run history. Runs import the
in-run API (runyard, azureml.core) from runyard-python.
.
It runs as root under systemd (runyard-agent.service), configured by
/etc/runyard/agent.yaml.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME runyard-python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
# Pure Python: one package for every architecture, no libraries to look up, and the
# oldest Python the SDK supports.
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SHLIBDEPS OFF)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3 (>= 3.9)")
# postinst byte-compiles the SDK, prerm removes the caches (py3compile / py3clean's job).
set(CPACK_DEBIAN_PYTHON_PACKAGE_CONTROL_EXTRA
    "${_packaging}/debian/runyard-python/postinst;${_packaging}/debian/runyard-python/prerm")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION
"in-run Python API of runyard training runs
The runyard package gives a training script its run: Run.get_context()
logs metrics, images and tables, tags the run and uploads files to its
history while it runs under runyard, and prints what it would have logged
when the script runs on its own. The azureml.core package lets scripts
written for Azure ML's Run API run unchanged.
.
Runs started by runyard and runyard-agent get /usr/share/runyard/python on
their PYTHONPATH; nothing is installed into Python's own module path.")

include(CPack)
