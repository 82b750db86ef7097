terraform {
  required_version = ">= 1.5"

  required_providers {
    google = {
      source  = "hashicorp/google"
      version = "~> 7.0"
    }
    archive = {
      source  = "hashicorp/archive"
      version = "~> 2.4"
    }
    # time_sleep: waits for IAM grants to propagate before the functions deploy.
    time = {
      source  = "hashicorp/time"
      version = "~> 0.12"
    }
    # random_password: the client-key secret's value.
    random = {
      source  = "hashicorp/random"
      version = "~> 3.6"
    }
  }
}

provider "google" {
  project = var.project_id
  region  = var.region
}
