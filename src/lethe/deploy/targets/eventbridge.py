"""AWS: EventBridge Scheduler (or EventBridge rules) running an ECS task per job.

Scheduler carries an IANA zone but skips a fixed time the clocks jump over, so such a job is
refused; rules fire in UTC only. AWS cron has six fields and ``?``, so a job restricting both
day-of-month and day-of-week becomes two schedules (``-1`` and ``-2``); the slot ledger runs a
day that matches both once. The task's command is ``lethe tick JOB``; secrets stay in the task
definition.
"""

from __future__ import annotations

import json
import re
from typing import Any

from lethe.deploy.base import Artifact, Firing, Target
from lethe.deploy.dialects import aws_expressions
from lethe.deploy.fields import CronFields
from lethe.deploy.registry import register
from lethe.deploy.render import dns_name, header, header_lines, to_json, to_yaml
from lethe.errors import DeployRefusedError
from lethe.schedule.cron import Schedule

__all__ = ["EventBridgeTarget"]

MAX_NAME = 64


@register("eventbridge")
class EventBridgeTarget(Target):
    """``eventbridge.yaml`` (CloudFormation) and, for Scheduler, ``schedules/<name>.json``
    for ``aws scheduler create-schedule --cli-input-json``."""

    title = "EventBridge"
    dst = "skips"

    def fixed_zone(self) -> str | None:
        return "UTC" if self.context.deploy.eventbridge.api == "rules" else None

    def translate(self, schedule: Schedule) -> tuple[str, ...]:
        return tuple(aws_expressions(CronFields.of(schedule)))

    def _names(self, firing: Firing) -> list[tuple[str, str]]:
        base = dns_name(self.context.project, firing.job.name)
        many = len(firing.expressions) > 1
        named = [(f"{base}-{i}" if many else base, e) for i, e in enumerate(firing.expressions, 1)]
        for name, _ in named:
            if len(name) > MAX_NAME:
                raise DeployRefusedError(
                    f"the schedule name {name!r} is longer than {MAX_NAME} characters",
                    f"{self.context.source}: jobs[{firing.index}].name",
                )
        return named

    def render(self, firings: list[Firing]) -> list[Artifact]:
        resources: dict[str, Any] = {}
        files: list[Artifact] = []
        rules = self.context.deploy.eventbridge.api == "rules"
        for firing in firings:
            for name, expression in self._names(firing):
                logical = re.sub(r"[^A-Za-z0-9]", "", name.title())
                description = " ".join(header_lines(self.name, self.context, [firing]))[:512]
                if rules:
                    resources[logical] = self._rule(firing, name, expression, description)
                    continue
                resources[logical] = self._schedule(firing, name, expression, description)
                files.append(
                    Artifact(
                        f"schedules/{name}.json",
                        to_json(self._cli(firing, name, expression, description)),
                    )
                )
        template = {
            "AWSTemplateFormatVersion": "2010-09-09",
            "Description": f"lethe jobs of {self.context.project}",
            "Resources": resources,
        }
        text = header("#", self.name, self.context, firings) + to_yaml(template)
        return [Artifact("eventbridge.yaml", text), *files]

    def _overrides(self, firing: Firing) -> str:
        container = self.context.deploy.eventbridge.container
        command = self.context.tick(firing.job.name)
        return json.dumps({"containerOverrides": [{"name": container, "command": command}]})

    def _network(self, key: str) -> dict[str, Any]:
        settings = self.context.deploy.eventbridge
        return {
            key: {
                "Subnets": settings.subnets,
                "SecurityGroups": settings.security_groups,
                "AssignPublicIp": "ENABLED" if settings.assign_public_ip else "DISABLED",
            }
        }

    def _schedule(
        self, firing: Firing, name: str, expression: str, description: str
    ) -> dict[str, Any]:
        settings = self.context.deploy.eventbridge
        return {
            "Type": "AWS::Scheduler::Schedule",
            "Properties": {
                "Name": name,
                "Description": description,
                "ScheduleExpression": expression,
                "ScheduleExpressionTimezone": firing.schedule.zone,
                "FlexibleTimeWindow": {"Mode": "OFF"},
                "State": "ENABLED",
                "Target": {
                    "Arn": settings.cluster_arn,
                    "RoleArn": settings.role_arn,
                    "RetryPolicy": {"MaximumRetryAttempts": 0},
                    "EcsParameters": {
                        "TaskDefinitionArn": settings.task_definition_arn,
                        "LaunchType": "FARGATE",
                        "TaskCount": 1,
                        "NetworkConfiguration": self._network("AwsvpcConfiguration"),
                    },
                    "Input": self._overrides(firing),
                },
            },
        }

    def _cli(self, firing: Firing, name: str, expression: str, description: str) -> dict[str, Any]:
        properties: dict[str, Any] = self._schedule(firing, name, expression, description)[
            "Properties"
        ]
        ecs = properties["Target"]["EcsParameters"]
        ecs["NetworkConfiguration"] = self._network("awsvpcConfiguration")
        return properties  # the CLI takes the API's shape: the same keys, awsvpcConfiguration

    def _rule(self, firing: Firing, name: str, expression: str, description: str) -> dict[str, Any]:
        settings = self.context.deploy.eventbridge
        target = {
            "Id": "lethe",
            "Arn": settings.cluster_arn,
            "RoleArn": settings.role_arn,
            "EcsParameters": {
                "TaskDefinitionArn": settings.task_definition_arn,
                "LaunchType": "FARGATE",
                "TaskCount": 1,
                "NetworkConfiguration": self._network("AwsVpcConfiguration"),
            },
            "Input": self._overrides(firing),
        }
        properties = {
            "Name": name,
            "Description": description,
            "ScheduleExpression": expression,
            "State": "ENABLED",
            "Targets": [target],
        }
        return {"Type": "AWS::Events::Rule", "Properties": properties}
