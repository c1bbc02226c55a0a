# Firestore: the job store.

resource "google_firestore_database" "this" {
  count       = var.create_firestore_database ? 1 : 0
  project     = var.project_id
  name        = var.firestore_database
  location_id = coalesce(var.firestore_location, var.region)
  type        = "FIRESTORE_NATIVE"
  # The job store's transactions are written for pessimistic locking (Standard edition's default).
  concurrency_mode = "PESSIMISTIC"
  # Jobs are the record of every export: keep 7 days of point-in-time recovery, refuse deletion.
  point_in_time_recovery_enablement = "POINT_IN_TIME_RECOVERY_ENABLED"
  delete_protection_state           = "DELETE_PROTECTION_ENABLED"
  deletion_policy                   = "ABANDON"

  depends_on = [google_project_service.enabled]
}

locals {
  # The composite indexes, from the one list: FIRESTORE_INDEXES next to the queries in
  # functions/src/adapters/job-store.firestore.ts, generated into firestore.indexes.json
  # by tools/gen-schemas.ts (a unit test fails when the file is stale).
  firestore_indexes = {
    for ix in jsondecode(file("${path.module}/firestore.indexes.json")).indexes :
    "${ix.collectionGroup}:${join(",", [for f in ix.fields : "${f.fieldPath}:${lookup(f, "order", lookup(f, "arrayConfig", ""))}"])}" => ix
  }

  # Firestore TTL, only on documents nothing reads again once done; the code writes
  # `expireAt` (TTL_FIELD in job-store.firestore.ts) on them and nowhere else:
  # - outbox: a sent entry (7 days after sending); the relay only reads unsent ones.
  # - webhookDeliveries: a delivered or failed delivery (30 days after); it only guards
  #   against a second delivery of one event, and no event comes back after 14 days
  #   (7 days of subscription retention + 7 days on the dead-letter hold).
  # Never jobs (the record), leases (the fencing token must only grow), eeProjects or
  # budgets (live counters). TTL deletes within about a day of expiry; nothing depends on when.
  ttl_collections = ["outbox", "webhookDeliveries"]
  ttl_field       = "expireAt"
}

resource "google_firestore_index" "composite" {
  for_each    = local.firestore_indexes
  project     = var.project_id
  database    = var.firestore_database
  collection  = each.value.collectionGroup
  query_scope = each.value.queryScope

  dynamic "fields" {
    for_each = each.value.fields
    content {
      field_path = fields.value.fieldPath
      # A field has an order, or arrayConfig CONTAINS for array-contains queries.
      order        = lookup(fields.value, "order", null)
      array_config = lookup(fields.value, "arrayConfig", null)
    }
  }

  depends_on = [google_firestore_database.this]
}

resource "google_firestore_field" "ttl" {
  for_each   = toset(local.ttl_collections)
  project    = var.project_id
  database   = var.firestore_database
  collection = each.value
  field      = local.ttl_field

  ttl_config {}

  # No single-field index on it: an ever-increasing timestamp index is a write hotspot, and no query uses it.
  index_config {}

  depends_on = [google_firestore_database.this]
}
