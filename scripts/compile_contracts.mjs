#!/usr/bin/env node
// Compiles resources/contracts/*.sol (and the test doubles in resources/contracts/testing) with the
// pinned solc-js (standard JSON, viaIR, optimizer on, 200 runs, evmVersion cancun) and writes
// resources/contracts/build/<Name>.json (test doubles: build/testing/<Name>.json) as
// {abi, bytecode, contractName, deployedBytecode, solcVersion, sourceHash} with sorted keys, so
// that a recompile is byte-identical and the app never needs a compiler.
//
// Usage: node scripts/compile_contracts.mjs [--check]
//   --check  compile in memory only; exit 1 if the committed artifacts differ (are stale).
//   Exit 2: node_modules missing (run scripts/setup.sh), wrong solc, or a compiler error.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const SOURCES_DIR = join(ROOT, "resources", "contracts");
const BUILD_DIR = join(SOURCES_DIR, "build");
const NODE_MODULES = join(ROOT, "node_modules");
// py-evm (eth-tester) runs Prague and anvil 1.7 defaults to it; cancun keeps the bytecode
// deployable on any current chain (PUSH0, MCOPY and transient storage are all available).
const EVM_VERSION = "cancun";
// name -> [source unit, artifact path relative to build/]; testing/ holds adversarial test doubles.
const CONTRACTS = {
  QuarryToken: ["QuarryToken.sol", "QuarryToken.json"],
  BountyBoard: ["BountyBoard.sol", "BountyBoard.json"],
  FeeOnTransferToken: ["testing/TestContracts.sol", "testing/FeeOnTransferToken.json"],
  ReentrantToken: ["testing/TestContracts.sol", "testing/ReentrantToken.json"],
  ERC1271Wallet: ["testing/TestContracts.sol", "testing/ERC1271Wallet.json"],
  TestToken: ["testing/TestToken.sol", "testing/TestToken.json"],
};

function fail(message) {
  console.error(`compile_contracts: ${message}`);
  process.exit(2);
}

if (!existsSync(join(NODE_MODULES, "solc", "package.json"))) {
  fail("node_modules/solc is missing; run scripts/setup.sh (it runs `npm ci`) first.");
}
const require = createRequire(join(ROOT, "package.json"));
const solc = require("solc");
const pinned = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).devDependencies.solc;
if (!solc.version().startsWith(`${pinned}+`)) {
  fail(`installed solc ${solc.version()} is not the pinned ${pinned}; run scripts/setup.sh.`);
}

// Stable JSON: keys sorted at every level, two-space indent, trailing newline.
function sortKeys(value) {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value && typeof value === "object") {
    return Object.fromEntries(Object.keys(value).sort().map((key) => [key, sortKeys(value[key])]));
  }
  return value;
}
const stableJson = (value) => `${JSON.stringify(sortKeys(value), null, 2)}\n`;

// Imports resolve only to @openzeppelin/contracts inside node_modules; anything else is an error.
function findImport(path) {
  if (!path.startsWith("@openzeppelin/contracts/") || path.includes("..")) {
    return { error: `import not allowed: ${path}` };
  }
  const file = join(NODE_MODULES, path);
  if (!existsSync(file)) return { error: `not found: ${path} (run scripts/setup.sh)` };
  return { contents: readFileSync(file, "utf8") };
}

const sourceFiles = [...new Set(Object.values(CONTRACTS).map(([unit]) => unit))].sort();
const input = {
  language: "Solidity",
  sources: Object.fromEntries(
    sourceFiles.map((name) => [name, { content: readFileSync(join(SOURCES_DIR, name), "utf8") }]),
  ),
  settings: {
    optimizer: { enabled: true, runs: 200 },
    // The IR pipeline: createBounty's nine parameters are "stack too deep" for the legacy one.
    viaIR: true,
    evmVersion: EVM_VERSION,
    outputSelection: { "*": { "*": ["abi", "metadata", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
  },
};

const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImport }));
const errors = (output.errors || []).filter((entry) => entry.severity === "error");
for (const entry of output.errors || []) console.error(entry.formattedMessage);
if (errors.length) fail(`${errors.length} compiler error(s)`);

// sourceHash: sha256 of the sources this contract was built from (its own and OpenZeppelin's,
// per the compiler's metadata), the compiler version and the settings; a change to any of them
// changes it, while an unrelated source (e.g. a test double) does not.
const sourceText = (unit) => input.sources[unit]?.content ?? findImport(unit).contents;
function sourceHashOf(compiled) {
  const units = Object.keys(JSON.parse(compiled.metadata).sources).sort();
  const sources = Object.fromEntries(units.map((unit) => [unit, sourceText(unit)]));
  const material = stableJson({ settings: input.settings, solc: solc.version(), sources });
  return `0x${createHash("sha256").update(material).digest("hex")}`;
}

const artifacts = {};
for (const [name, [unit]] of Object.entries(CONTRACTS)) {
  const compiled = output.contracts?.[unit]?.[name];
  if (!compiled) fail(`contract ${name} not found in ${unit}`);
  artifacts[name] = stableJson({
    abi: compiled.abi,
    bytecode: `0x${compiled.evm.bytecode.object}`,
    contractName: name,
    deployedBytecode: `0x${compiled.evm.deployedBytecode.object}`,
    solcVersion: solc.version(),
    sourceHash: sourceHashOf(compiled),
  });
}

if (process.argv.includes("--check")) {
  const stale = Object.entries(CONTRACTS).filter(([name, [, artifactPath]]) => {
    const file = join(BUILD_DIR, artifactPath);
    return !existsSync(file) || readFileSync(file, "utf8") !== artifacts[name];
  });
  if (stale.length) {
    console.error(
      `compile_contracts: stale artifacts: ${stale.map(([name]) => name).join(", ")}; run node scripts/compile_contracts.mjs and commit resources/contracts/build.`,
    );
    process.exit(1);
  }
  console.log(`compile_contracts: artifacts up to date (${solc.version()})`);
} else {
  for (const [name, [, artifactPath]] of Object.entries(CONTRACTS)) {
    const file = join(BUILD_DIR, artifactPath);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(`${file}.tmp`, artifacts[name]);
    renameSync(`${file}.tmp`, file);
  }
  const written = Object.values(CONTRACTS).map(([, path]) => `build/${path}`);
  console.log(`compile_contracts: wrote ${written.join(", ")}`);
}
