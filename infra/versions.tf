# Terraform and provider versions. The provider is pinned to one major line; the lock
# file (.terraform.lock.hcl) is written by the first `terraform init` with network
# access (Cloud Build) and should be committed from there.
terraform {
  required_version = ">= 1.5.0, < 2.0.0"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 6.30"
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
