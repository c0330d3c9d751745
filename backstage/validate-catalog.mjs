// Validate every entity of a catalog-info.yml the way Backstage's catalog backend does when it
// ingests one: the default entity policies, the kind's own validator, and the entity references
// of the relation fields. Uses @backstage/catalog-model itself (pinned by package-lock.json).
//
//   node validate-catalog.mjs ../catalog-info.yml
//
// Prints one line per entity; exits 1 when any entity is invalid, naming the entity and the field.

import { readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  apiEntityV1alpha1Validator,
  componentEntityV1alpha1Validator,
  DefaultNamespaceEntityPolicy,
  domainEntityV1alpha1Validator,
  EntityPolicies,
  FieldFormatEntityPolicy,
  groupEntityV1alpha1Validator,
  locationEntityV1alpha1Validator,
  NoForeignRootFieldsEntityPolicy,
  parseEntityRef,
  resourceEntityV1alpha1Validator,
  SchemaValidEntityPolicy,
  stringifyEntityRef,
  systemEntityV1alpha1Validator,
  userEntityV1alpha1Validator,
} from '@backstage/catalog-model';
import { LineCounter, parseAllDocuments } from 'yaml';

// The policies the catalog backend applies to every entity it reads.
const policy = EntityPolicies.allOf([
  new SchemaValidEntityPolicy(),
  new DefaultNamespaceEntityPolicy(),
  new NoForeignRootFieldsEntityPolicy(),
  new FieldFormatEntityPolicy(),
]);

// The built-in kinds, as BuiltinKindsEntityProcessor validates them.
const kindValidators = [
  apiEntityV1alpha1Validator,
  componentEntityV1alpha1Validator,
  resourceEntityV1alpha1Validator,
  groupEntityV1alpha1Validator,
  locationEntityV1alpha1Validator,
  userEntityV1alpha1Validator,
  systemEntityV1alpha1Validator,
  domainEntityV1alpha1Validator,
];

// Relation fields and the default kind BuiltinKindsEntityProcessor parses their references with
// (undefined: the reference must name its kind, e.g. component:helm-deploy).
const relationFields = {
  Component: {
    owner: 'Group',
    subcomponentOf: 'Component',
    providesApis: 'API',
    consumesApis: 'API',
    dependsOn: undefined,
    dependencyOf: undefined,
    system: 'System',
  },
  API: { owner: 'Group', system: 'System' },
  Resource: { owner: 'Group', dependsOn: undefined, dependencyOf: undefined, system: 'System' },
  User: { memberOf: 'Group' },
  Group: { parent: 'Group', children: 'Group', members: 'User' },
  System: { owner: 'Group', domain: 'Domain' },
  Domain: { owner: 'Group', subdomainOf: 'Domain' },
};

function describe(entity) {
  const kind = entity?.kind ?? '?';
  const namespace = entity?.metadata?.namespace ?? 'default';
  const name = entity?.metadata?.name ?? '?';
  return `${String(kind).toLowerCase()}:${namespace}/${name}`;
}

function message(error) {
  // Backstage appends a link to its file-format ADR to some messages: keep the first sentence.
  return String(error?.message ?? error).replace(/\s*To learn more about catalog file format.*$/s, '');
}

async function validate(entity) {
  const problems = [];
  let enforced;
  try {
    enforced = await policy.enforce(entity);
  } catch (error) {
    return [message(error)];
  }
  let known = false;
  for (const validator of kindValidators) {
    try {
      if (await validator.check(enforced)) {
        known = true;
        break;
      }
    } catch (error) {
      return [message(error)];
    }
  }
  if (!known) {
    return [`unknown kind/apiVersion: ${entity.kind} in ${entity.apiVersion}`];
  }
  const namespace = enforced.metadata.namespace ?? 'default';
  for (const [field, defaultKind] of Object.entries(relationFields[enforced.kind] ?? {})) {
    const targets = enforced.spec?.[field];
    for (const target of targets === undefined ? [] : [targets].flat()) {
      try {
        parseEntityRef(target, { defaultKind, defaultNamespace: namespace });
      } catch (error) {
        problems.push(`/spec/${field}: ${message(error)}`);
      }
    }
  }
  return problems;
}

async function main(path) {
  if (!path) {
    console.error('usage: node validate-catalog.mjs CATALOG_INFO_YAML');
    return 2;
  }
  // Paths as seen from the repository root (this script lives in backstage/).
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  const shown = relative(root, resolve(path));
  const text = readFileSync(path, 'utf8');
  const lines = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter: lines, prettyErrors: true });
  let failures = 0;
  let count = 0;
  const seen = new Map();
  for (const document of documents) {
    const line = lines.linePos(document.contents?.range?.[0] ?? document.range[0]).line;
    if (document.errors.length > 0) {
      for (const error of document.errors) {
        console.error(`error: ${shown}:${error.linePos?.[0]?.line ?? line}: invalid YAML: ${error.message}`);
      }
      failures += 1;
      continue;
    }
    const entity = document.toJS();
    if (entity === null || entity === undefined) {
      continue; // an empty document (e.g. after the last ---)
    }
    count += 1;
    const ref = describe(entity);
    const problems = await validate(entity);
    const key = ref.toLowerCase();
    if (problems.length === 0 && seen.has(key)) {
      problems.push(`the same entity is already defined at line ${seen.get(key)}`);
    }
    seen.set(key, line);
    if (problems.length > 0) {
      failures += 1;
      for (const problem of problems) {
        console.error(`error: ${shown}:${line}: ${ref}: ${problem}`);
      }
    } else {
      console.log(`ok    ${shown}:${line}: ${stringifyEntityRef(entity)}`);
    }
  }
  if (count === 0 && failures === 0) {
    console.error(`error: ${shown}: no entities`);
    return 1;
  }
  console.log(`${count} entities, ${failures} invalid`);
  return failures > 0 ? 1 : 0;
}

process.exitCode = await main(process.argv[2]);
