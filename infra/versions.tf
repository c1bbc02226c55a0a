# Terraform and provider versions. The google providers are held to 6.50 and later 6.x:
# test/fixtures/provider-schema.json is the 6.50.0 schema (`npm run infra:schema`), and
# test/unit/infra-schema.test.ts holds every block here to it. The lock file
# (.terraform.lock.hcl) is written by the first `terraform init` with network access
# (Cloud Build) and should be committed from there.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.50"
    }
    # google_project_service_identity (main.tf): the service agents, made before their grants.
    google-beta = {
      source  = "hashicorp/google-beta"
      version = "~> 6.50"
    }
    # time_sleep (main.tf): the wait before the first Cloud Storage trigger.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.13"
    }
  }

  # State lives in a GCS bucket named at init time:
  #   terraform init -backend-config="bucket=MY_STATE_BUCKET" -backend-config="prefix=eeport"
  # (`terraform init -backend=false` is enough for `terraform validate`).
  backend "gcs" {}
}

provider "google" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { app = "eeport" })
}

provider "google-beta" {
  project = var.project_id
  region  = var.region

  default_labels = merge(var.labels, { app = "eeport" })
}
